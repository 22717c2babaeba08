"""The Prometheus endpoint of a real agent polling a real lab device, scraped over HTTP and
parsed with the official client's text parser."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.fleet import Lab
from lab.harness import (
    bus_key,
    client_for,
    free_port,
    sqlite_pool,
    start_agent,
    stop_process,
    wait_for_agent,
    write_agent_config,
)
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_endpoint_shows_polls_latency_alarms_and_traps(tmp_path):
    import json

    lab = Lab.create(
        tmp_path / "lab", count=1, base_address=random_base(), port=free_port(socket.SOCK_DGRAM)
    )
    lab.start()
    try:
        url = sqlite_pool(tmp_path / "pool.db", json.loads(lab.inventory_path.read_text()))
        port = free_port()
        router, _ = write_agent_config(
            tmp_path / "agent.toml",
            "m-agent",
            tmp_path / "a",
            url,
            1.0,
            metrics={"enabled": True, "port": port},
        )
        proc = start_agent(tmp_path / "agent.toml", tmp_path / "agent.log")
        try:
            with client_for(url, bus_key(url, tmp_path), router) as client:
                wait_for_agent(client, proc, 30)
            m = wait_until(
                lambda: (
                    (s := scrape(port))
                    .get("emspool_polls_total", {})
                    .get((("protocol", "snmp"),), 0)
                    >= 2
                    and s
                ),
                30,
                what="two polls counted",
            )
            assert m["emspool_up"][()] == 1
            assert m["emspool_nes_managed"][()] == 1
            count = m["emspool_poll_duration_seconds_count"][(("protocol", "snmp"),)]
            inf = m["emspool_poll_duration_seconds_bucket"][(("le", "+Inf"), ("protocol", "snmp"))]
            assert (
                count == inf >= 2
                and m["emspool_poll_duration_seconds_sum"][(("protocol", "snmp"),)] > 0
            )
            assert (("severity", "critical"),) in m["emspool_alarms_active"]
            # The transport's own counters: every poll's requests went out and came back.
            sent = m["emspool_snmp_requests_total"][(("counter", "sent"), ("transport", "v1v2c"))]
            got = m["emspool_snmp_requests_total"][
                (("counter", "received"), ("transport", "v1v2c"))
            ]
            assert sent >= 2 and got >= 2
            assert "emspool_traps_total" in m and "emspool_outbox_pending" in m
            # A lone agent is its own pool's master, at an epoch, applying a table.
            assert m["emspool_role"][(("role", "master"),)] == 1
            assert m["emspool_epoch"][()] >= 1
            assert m["emspool_assignment_version"][()] >= 1
            assert m["emspool_assignments_rejected_total"][()] == 0
            # nothing secret in the exposition
            body = (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                .read()
                .decode()
            )
            assert lab.state.community not in body
        finally:
            stop_process(proc)
    finally:
        lab.stop()
