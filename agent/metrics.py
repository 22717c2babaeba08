"""Prometheus metrics of one agent, served by the official client library on a local port.

The exporter's HTTP thread never reads the agent's state directly (the event loop mutates it):
each scrape asks the loop for one consistent snapshot, with a deadline, and turns it into
metric families. Names follow Prometheus conventions (`_total` counters, base units).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from shared.model import Severity

if TYPE_CHECKING:
    from agent.app import Agent

log = logging.getLogger(__name__)

SCRAPE_DEADLINE = 2.0  # seconds the loop gets to take a snapshot


def snapshot(agent: Agent) -> dict[str, Any]:
    """Everything a scrape shows, read on the event loop in one go."""
    by_sev = dict.fromkeys((s.label for s in Severity if s is not Severity.CLEARED), 0)
    for a in agent.model.alarms.active():
        by_sev[a.severity.label] = by_sev.get(a.severity.label, 0) + 1
    pollers = {"snmp": agent.poller, "netconf": agent.nc_poller}
    election = getattr(agent, "election", None)
    return {
        "node": agent.node_id,
        "managed": len(agent.model.states),
        "alarms": by_sev,
        "polls": {p: dict(x.stats) for p, x in pollers.items() if x is not None},
        "latency": {p: x.latency.snapshot() for p, x in pollers.items() if x is not None},
        "snmp": snmp_transport_stats(agent),
        "traps": dict(agent.receiver.counters) if agent.receiver else {},
        "outbox": agent.writer.counters() if agent.writer else {},
        "bus": dict(agent.bus.stats) if agent.bus else {},
        "election": None
        if election is None
        else {"role": election.role.value, "epoch": election.epoch, **election.stats},
        "follower": None
        if agent.follower is None
        else {"version": agent.follower.applied[1], **agent.follower.stats},
        "forwarder": dict(agent.forwarder.stats) if agent.forwarder is not None else {},
    }


class AgentCollector(Collector):
    def __init__(self, agent: Agent, loop: asyncio.AbstractEventLoop) -> None:
        self._agent = agent
        self._loop = loop

    def _snapshot(self) -> dict[str, Any]:
        async def take() -> dict[str, Any]:
            return snapshot(self._agent)

        future = asyncio.run_coroutine_threadsafe(take(), self._loop)
        return future.result(SCRAPE_DEADLINE)

    def collect(self) -> Iterator[Metric]:
        try:
            s = self._snapshot()
        except Exception as e:  # a stuck loop: say so rather than hang the scrape
            log.warning("metrics snapshot failed: %s", type(e).__name__)
            up = GaugeMetricFamily("emspool_up", "1 when the agent's loop answered the scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("emspool_up", "1 when the agent's loop answered the scrape")
        up.add_metric([], 1)
        yield up
        yield from _poll_metrics(s)
        yield from _state_metrics(s)


def snmp_transport_stats(agent: Agent) -> dict[str, dict[str, int]]:
    """The SNMP transports' counters (sent, retries, timeouts, answers dropped by reason),
    by transport: retries are what a slow or lossy path costs before any poll fails."""
    if agent.poller is None:
        return {}
    client = agent.poller.client
    return {"v1v2c": client.transport_stats, "v3": client.v3_transport_stats}


def _poll_metrics(s: dict[str, Any]) -> Iterator[Metric]:
    done = CounterMetricFamily("emspool_polls", "NE polls done", labels=["protocol"])
    failed = CounterMetricFamily("emspool_poll_failures", "NE polls failed", labels=["protocol"])
    crashed = CounterMetricFamily(
        "emspool_poll_crashes", "NE polls ended by an internal error", labels=["protocol"]
    )
    for proto, stats in s["polls"].items():
        done.add_metric([proto], stats.get("polls", 0))
        failed.add_metric([proto], stats.get("failures", 0))
        crashed.add_metric([proto], stats.get("poll_crashes", 0))
    yield from (done, failed, crashed)
    latency = HistogramMetricFamily(
        "emspool_poll_duration_seconds", "Time one NE poll took", labels=["protocol"]
    )
    for proto, (buckets, total) in s["latency"].items():
        latency.add_metric([proto], buckets, total)
    yield latency
    requests = CounterMetricFamily(
        "emspool_snmp_requests",
        "SNMP transport counters (sent, retries, timeouts, answers dropped by reason)",
        labels=["transport", "counter"],
    )
    for transport, stats in s["snmp"].items():
        for counter, n in stats.items():
            requests.add_metric([transport, counter], n)
    yield requests


def _state_metrics(s: dict[str, Any]) -> Iterator[Metric]:
    managed = GaugeMetricFamily("emspool_nes_managed", "NEs this agent manages")
    managed.add_metric([], s["managed"])
    yield managed
    alarms = GaugeMetricFamily(
        "emspool_alarms_active", "Standing alarms by severity", labels=["severity"]
    )
    for sev, n in s["alarms"].items():
        alarms.add_metric([sev], n)
    yield alarms
    traps = CounterMetricFamily(
        "emspool_traps", "Traps and informs received, by outcome", labels=["outcome"]
    )
    for outcome, n in s["traps"].items():
        if isinstance(n, int):
            traps.add_metric([outcome], n)
    yield traps
    outbox = GaugeMetricFamily("emspool_outbox_pending", "Events not yet in the database")
    outbox.add_metric([], int(s["outbox"].get("pending", 0)))
    yield outbox
    bus = CounterMetricFamily("emspool_bus_messages", "Bus messages by kind", labels=["kind"])
    for kind, n in s["bus"].items():
        if isinstance(n, int):
            bus.add_metric([kind], n)
    yield bus
    election = s["election"]
    if election is not None:
        role = GaugeMetricFamily("emspool_role", "1 for this agent's role", labels=["role"])
        role.add_metric([election["role"]], 1)
        epoch = GaugeMetricFamily("emspool_epoch", "The master epoch this agent follows")
        epoch.add_metric([], election["epoch"])
        elections = CounterMetricFamily("emspool_elections", "Elections this agent started")
        elections.add_metric([], election.get("elections", 0))
        yield from (role, epoch, elections)
    follower = s["follower"]
    if follower is not None:
        version = GaugeMetricFamily(
            "emspool_assignment_version", "Version of the assignment table this agent applies"
        )
        version.add_metric([], follower["version"])
        fenced = CounterMetricFamily(
            "emspool_assignments_rejected",
            "Assignment notices rejected for a stale epoch (fencing)",
        )
        fenced.add_metric([], follower.get("rejected", 0))
        yield from (version, fenced)
    forwarded = CounterMetricFamily(
        "emspool_traps_forwarded", "Traps of other agents' NEs forwarded to their owner"
    )
    forwarded.add_metric([], s["forwarder"].get("forwarded", 0))
    yield forwarded


def serve(agent: Agent, host: str, port: int) -> tuple[Any, CollectorRegistry]:
    """Start the exporter's HTTP thread; returns (server, registry). Call from the loop."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent, asyncio.get_running_loop()))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server, registry
