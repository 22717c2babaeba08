"""Live NE states and members through one agent (topics ``ne`` and ``agent``: agent/nestate.py,
agent/electiond.py; shared/neview.py in agent/livealarms.py), real agents on the real lab:
a client attached to agent A sees an NE that agent C polls go unreachable and come back,
notices the messages it lost and resynchronises, and sees C leave when it is killed and join
again when it restarts; ``emspool watch`` prints the same as lines."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from lab.fleet import Lab
from lab.harness import AgentPool, client_for
from shared.neview import essence
from tests.helpers.lossylive import LossyLive
from tests.helpers.poollab import all_placed, lab_fixture, pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NO_SAFETY_NET = 3600.0  # periodic resyncs off: what the view knows came live (or by a gap)

lab = lab_fixture("nelivelab", 9)
pool = pool_fixture()


def follow(live: LossyLive, until: Any, within: float, what: str) -> Any:
    def step() -> Any:
        live.step(0.1)
        return until()

    return wait_until(step, within, 0.05, what)


def truth(pool: AgentPool) -> dict[str, tuple[Any, ...]]:
    reply = pool.request("p1", "pool.ne_states", timeout=5.0)
    return essence(reply["items"])


def test_ne_states_and_members_live_through_one_agent(lab: Lab, pool: AgentPool):
    pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    by_agent: dict[str, list[str]] = {}
    for name, a in sorted(owners.items()):
        by_agent.setdefault(a, []).append(name)
    # C polls the NEs watched and is killed (a follower if one polls two NEs, so the
    # master's word on members stays one voice); the client listens to A, another agent.
    c = next((a for a in ("p3", "p2") if len(by_agent.get(a, [])) >= 2), "p1")
    attach = next(a for a in ("p2", "p3", "p1") if a != c)
    ne, other = by_agent[c][0], by_agent[c][1]
    client = client_for(pool.db_url, pool._keys["operator"], attach, timeout=2.0)
    live = LossyLive(client, resync_every=NO_SAFETY_NET, nes=True)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
         str(pool._keys["operator"]), "watch", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        view = live.nes
        assert view is not None
        follow(live, lambda: view.resyncs and not view.resync_needed, 30, "the first snapshot")
        follow(live, lambda: view.members == ["p1", "p2", "p3"], 10, "the members")
        follow(live, lambda: view.nes.get(ne, {}).get("reachable") is True, 30, "ne polled")
        assert live.attached_node == attach and view.master == "p1"
        resyncs = view.resyncs

        # Unreachable and back, told live by C and relayed by A: no resync needed.
        lab.unreachable(ne)
        follow(live, lambda: view.nes[ne]["reachable"] is False, 30, "the NE unreachable")
        assert view.nes[ne]["agent"] == c and view.nes[ne]["last_error"]
        lab.reachable(ne)
        follow(live, lambda: view.nes[ne]["reachable"] is True, 30, "the NE back")
        assert view.resyncs == resyncs and not view.resync_needed
        told = [d for seen in live.news for d in seen.nes if d["name"] == ne]
        states = [d["reachable"] for d in reversed(told)]  # oldest first
        assert False in states and states[-1] is True, states

        # A change lost on the way is noticed at C's next message and repaired.
        live.dropping = True
        lab.unreachable(ne)
        follow(live, lambda: truth(pool)[ne][1] is False, 30, "the agents: unreachable")
        end = time.monotonic() + 2.0  # its ``ne`` message follows within a tick: lost too
        while time.monotonic() < end:
            live.step(0.1)
        live.dropping = False
        assert live.dropped >= 1 and view.nes[ne]["reachable"] is True  # really missed
        lab.unreachable(other)  # C speaks again: the gap shows
        follow(live, lambda: view.resyncs > resyncs, 30, "the resync after the gap")
        assert view.nes[ne]["reachable"] is False
        assert view.tracker.missed >= 1
        follow(live, lambda: view.summary() == truth(pool), 30, "the view equal to the agents")
        lab.reachable(ne)
        lab.reachable(other)

        # C killed: the master tells it left; restarted: joined.
        resyncs = view.resyncs
        pool.kill(c)
        follow(live, lambda: c not in view.members, 30, "C gone from the members")
        assert any(c in seen.left for seen in live.news)
        pool.start(c)
        follow(live, lambda: c in view.members, 30, "C back among the members")
        assert any(c in seen.joined for seen in live.news)
        assert view.master in pool.agents

        watcher.terminate()
        out, err = watcher.communicate(timeout=30)
        assert f"ne {ne} ({c}): UNREACHABLE" in out, out + err
        assert f"ne {ne} ({c}): reachable" in out, out
        assert f"member {c} left" in out and f"member {c} joined" in out, out
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=30)
        live.close()
        client.close()
        lab.reachable(ne)
        lab.reachable(other)
