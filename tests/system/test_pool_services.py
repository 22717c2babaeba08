"""The pool's services through real agent processes on the real lab: federated alarms and
NE states merged from every member's memory through any one agent, an acknowledgement
routed to the NE's owner and recorded under the key's name, the whole pool's live events
through one agent, the peered inventory with owners, and a killed member named missing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from lab.fleet import Lab
from lab.harness import AgentPool
from shared.livefeed import FeedTracker, Stamp, Verdict
from shared.wire import decode_publish
from tests.helpers.poollab import all_placed, lab_fixture, pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


lab = lab_fixture("svclab", 9)
pool = pool_fixture()


def test_any_agent_answers_for_the_whole_pool(lab: Lab, pool: AgentPool):
    master, _ = pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    follower = next(n for n in pool.agents if n != master)
    # An NE owned by another agent than the one we ask.
    target = next(ne for ne, a in sorted(owners.items()) if a != follower)
    owner = owners[target]

    pool.request(follower, "ping", user="carol")
    client = pool._clients[(follower, "carol")]
    sub = client.subscribe(pool.request(follower, "ping")["pub_endpoint"], ["event"])
    try:
        time.sleep(1.0)  # the subscription is in place before anything happens
        lab.unreachable(target)

        def raised() -> dict | None:
            reply = pool.request(follower, "pool.alarms", {"ne": target}, timeout=5.0)
            found = [a for a in reply["items"] if a["type"] == "ne-unreachable"]
            return reply | {"alarm": found[0]} if found else None

        reply = wait_until(raised, 60, 0.5, f"{target}'s alarm in the pool's answer")
        assert reply["alarm"]["agent"] == owner
        assert sorted(reply["answered"]) == sorted(pool.agents) and not reply["partial"]

        # The owner's live event reached a client attached to another agent, stamped.
        tracker = FeedTracker()
        seen = []
        end = time.monotonic() + 20
        while time.monotonic() < end and not any(
            b.get("ne") == target and b.get("origin") == owner for b in seen
        ):
            if sub.poll(200):
                body = decode_publish(sub.recv_multipart())[1]
                seen.append(body)
                assert tracker.see(Stamp.of(body)) is not Verdict.DUPLICATE
        relayed = [b for b in seen if b.get("ne") == target and b.get("origin") == owner]
        assert relayed, f"no event about {target} from {owner} through {follower}"
        if owner != follower:
            assert relayed[0]["via"] == follower

        # Acknowledged through the follower, done at the owner, under the key's name.
        acked = pool.request(
            follower, "pool.ack",
            {"ne": target, "type": "ne-unreachable", "obj": reply["alarm"]["obj"],
             "user": "someone-else"},
            timeout=5.0, user="carol",
        )  # fmt: skip
        assert acked["acked_by"] == "carol" and acked["agent"] == owner
        mine = pool.request(owner, "alarms", {"ne": target})
        assert [a["acked_by"] for a in mine if a["type"] == "ne-unreachable"] == ["carol"]

        # The CLI does the same through any agent, with carol's key.
        def cli(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
                 str(pool._keys["carol"]), "--agent", follower, "--json", *argv],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip

        listed = cli("alarms", "--ne", target)
        assert listed.returncode == 0, listed.stderr
        shown = json.loads(listed.stdout)
        assert [(a["agent"], a["acked_by"]) for a in shown["items"]
                if a["type"] == "ne-unreachable"] == [(owner, "carol")]  # fmt: skip
        undone = cli("ack", target, "ne-unreachable", "--undo")
        assert undone.returncode == 0, undone.stderr
        mine = pool.request(owner, "alarms", {"ne": target})
        assert [a["acked_by"] for a in mine if a["type"] == "ne-unreachable"] == [None]

        # The peered inventory says who owns what, the same from every agent.
        inv = {n: pool.request(n, "db.inventory", timeout=5.0) for n in pool.agents}
        tables = [{i["name"]: i["owner"] for i in r["items"]} for r in inv.values()]
        assert all(t == tables[0] for t in tables) and tables[0][target] == owner

        states = pool.request(follower, "pool.ne_states", timeout=5.0)
        assert {s["name"] for s in states["items"]} == set(owners)
    finally:
        sub.close(linger=0)
        lab.reachable(target)

    # A killed member is named missing (not waited for) until the pool forgets it.
    victim = next(n for n in pool.agents if n not in (follower,))
    pool.kill(victim)

    def missing() -> dict | None:
        r = pool.request(follower, "pool.alarms", timeout=5.0)
        return r if victim in r["missing"] else None

    r = wait_until(missing, 30, 0.5, f"{victim} named missing")
    assert r["partial"] and victim not in r["answered"]
