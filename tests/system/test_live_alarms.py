"""A client's live view of the pool's alarms (agent/livealarms.py over shared/alarmview.py)
through real agents on the real lab: it survives the kill -9 of the agent it listens to,
ending with exactly the agents' alarm set, and a lost event is noticed and repaired."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from typing import Any

import pytest

from agent import busclient
from agent.livealarms import LiveAlarms
from lab.fleet import Lab
from lab.harness import AgentPool, client_for
from shared.alarmview import essence
from tests.helpers.lossylive import LossyLive
from tests.helpers.poollab import all_placed, lab_fixture, pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

NO_SAFETY_NET = 3600.0  # periodic resyncs off: only the view's own reasons count here


lab = lab_fixture("livelab", 9)
pool = pool_fixture()


def agents_set(pool: AgentPool, among: set[str]) -> dict[Any, Any] | None:
    """The alarm set by ``pool.alarms`` when every one of ``among`` answered, else None."""
    node = next(n for n in sorted(among))
    reply = pool.request(node, "pool.alarms", timeout=5.0)
    if set(reply["answered"]) != among:
        return None
    return essence(reply["items"])


def converge(live: LiveAlarms, pool: AgentPool, among: set[str], why: str, within: float) -> Any:
    """Step the client until its view equals the agents' set (asked independently)."""

    def same() -> tuple[dict[Any, Any]] | None:  # a tuple: an empty set is an answer too
        try:
            for _ in range(5):
                live.step(0.1)
        except busclient.Unreachable:
            return None
        truth = agents_set(pool, among)
        return (truth,) if truth is not None and live.view.summary() == truth else None

    return wait_until(same, within, 0.1, why)[0]


def unreachable_alarm(pool: AgentPool, among: set[str], ne: str) -> bool:
    truth = agents_set(pool, among) or {}
    return any(k.ne == ne and k.type == "ne-unreachable" for k in truth)


def test_a_client_whose_agent_is_killed_ends_with_exactly_the_agents_alarms(
    lab: Lab, pool: AgentPool
):
    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    client = client_for(pool.db_url, pool._keys["operator"], timeout=2.0)
    live = LiveAlarms(client, resync_every=NO_SAFETY_NET)
    everyone = set(pool.agents)
    names = sorted(owners)
    down = [names[0], names[3], names[6]]
    watcher: subprocess.Popen[str] | None = None
    try:
        converge(live, pool, everyone, "the first snapshot", 30)
        victim = live.attached_node
        assert victim in everyone
        # `emspool watch` too (on a random agent: the victim or not, it must carry on).
        watcher = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
             str(pool._keys["operator"]), "watch", "--duration", "150"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Standing alarms on every agent, the victim's NEs included.
        for ne in down:
            lab.unreachable(ne)
        wait_until(
            lambda: all(unreachable_alarm(pool, everyone, ne) for ne in down), 90, 0.5,
            "the unreachable alarms in the pool",
        )  # fmt: skip
        converge(live, pool, everyone, "the view following the events", 30)

        pool.kill(victim)
        survivors = everyone - {victim}
        # Changes while the client is cut off: one alarm clears, another is raised.
        lab.reachable(down[0])
        lab.unreachable(names[8])
        all_placed(lab, pool, survivors)

        def settled() -> bool:  # (an alarm lost in the victim's outbox is raised anew)
            truth = agents_set(pool, survivors) or {}
            standing = {k.ne for k in truth if k.type == "ne-unreachable"}
            return down[0] not in standing and standing >= {*down[1:], names[8]}

        wait_until(settled, 90, 0.5, "the survivors' alarms after the kill")
        truth = converge(live, pool, survivors, "the view after the reattach", 60)
        assert live.attached_node in survivors and live.reattaches >= 1
        assert {k.ne for k in truth if k.type == "ne-unreachable"} >= {*down[1:], names[8]}
        assert down[0] not in {k.ne for k in live.view.summary() if k.type == "ne-unreachable"}
        watcher.terminate()
        out, err = watcher.communicate(timeout=30)
        watcher = None
        # It printed where it listened, and still printed after the kill from a survivor.
        vias = [
            line.split(" | via ")[1].split()[0] for line in out.splitlines() if " | via " in line
        ]
        assert vias and vias[-1] in survivors, out + err
        assert f"{names[8]} " in out, out  # the alarm raised after the kill, as an event line
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.communicate(timeout=30)
        live.close()
        client.close()
        for ne in {*down, names[8]}:
            lab.reachable(ne)


def test_a_lost_event_is_noticed_and_repaired_by_a_resync(lab: Lab, pool: AgentPool):
    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    everyone = set(pool.agents)
    by_agent: dict[str, list[str]] = {}
    for ne, a in sorted(owners.items()):
        by_agent.setdefault(a, []).append(ne)
    first, lost, *_ = next(nes for nes in by_agent.values() if len(nes) >= 2)
    client = client_for(pool.db_url, pool._keys["operator"], timeout=2.0)
    live = LossyLive(client, resync_every=NO_SAFETY_NET)
    try:
        converge(live, pool, everyone, "the first snapshot", 30)
        lab.unreachable(first)  # heard from the origin: its sequence is known
        wait_until(lambda: unreachable_alarm(pool, everyone, first), 90, 0.5, "first alarm")
        converge(live, pool, everyone, "the first alarm in the view", 30)
        resyncs = live.view.resyncs

        live.dropping = True
        lab.unreachable(lost)
        wait_until(lambda: unreachable_alarm(pool, everyone, lost), 90, 0.5, "the lost alarm")
        for _ in range(10):
            live.step(0.1)
        live.dropping = False
        assert live.dropped >= 1
        assert not any(k.ne == lost for k in live.view.summary())  # it really was missed
        assert live.view.resyncs == resyncs and not live.view.resync_needed

        lab.reachable(first)  # the origin's next event shows the gap
        converge(live, pool, everyone, "the view repaired", 60)
        assert live.view.resyncs > resyncs
        assert live.last_reason.startswith("missed events from"), live.last_reason
        assert any(k.ne == lost for k in live.view.summary())
        assert live.view.tracker.missed >= 1
    finally:
        live.close()
        client.close()
        for ne in (first, lost):
            lab.reachable(ne)


def test_the_async_face_follows_the_pool_through_a_kill(lab: Lab, pool: AgentPool):
    from agent.keys import read_key_file
    from agent.livealarms import AsyncLiveAlarms

    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    everyone = set(pool.agents)
    ne = sorted(owners)[1]

    async def scenario() -> tuple[str, str, dict[Any, Any]]:
        endpoints = busclient.pool_endpoints(pool.db_url)
        key = read_key_file(pool._keys["operator"])
        async with busclient.AsyncBusClient(endpoints, key, timeout=2.0) as client:
            live = AsyncLiveAlarms(client, resync_every=NO_SAFETY_NET)
            runner = asyncio.create_task(live.run(0.1))
            try:

                async def until(ok: Any, within: float, what: str) -> None:
                    end = time.monotonic() + within
                    while not await asyncio.to_thread(ok):
                        assert time.monotonic() < end, f"timed out waiting for {what}"
                        await asyncio.sleep(0.2)

                await until(lambda: live.view.resyncs >= 1, 30, "the first snapshot")
                victim = live.attached_node
                lab.unreachable(ne)
                await until(lambda: unreachable_alarm(pool, everyone, ne), 90, "the alarm")

                def current(among: set[str]) -> bool:
                    truth = agents_set(pool, among)
                    return truth is not None and live.view.summary() == truth

                await until(lambda: current(everyone), 30, "the alarm in the async view")
                pool.kill(victim)
                survivors = everyone - {victim}
                await asyncio.to_thread(all_placed, lab, pool, survivors)
                await until(
                    lambda: live.attached_node != victim and current(survivors), 60,
                    "the view after the kill, through a survivor",
                )  # fmt: skip
                # The alarm again, from its new owner (restored from the event log, or
                # raised anew if the victim died before its outbox reached the database).
                await until(
                    lambda: unreachable_alarm(pool, survivors, ne) and current(survivors), 90,
                    "the alarm back in the view",
                )  # fmt: skip
                return victim, live.attached_node, live.view.summary()
            finally:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
                live.close()

    try:
        victim, now_on, summary = asyncio.run(scenario())
    finally:
        lab.reachable(ne)
    assert now_on != victim and now_on in everyone
    assert any(k.ne == ne and k.type == "ne-unreachable" for k in summary)
