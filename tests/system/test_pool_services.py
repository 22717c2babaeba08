"""The pool's services through real agent processes on the real lab: federated alarms and
NE states merged from every member's memory through any one agent, an acknowledgement
routed to the NE's owner and recorded under the key's name, the whole pool's live events
through one agent, the peered inventory with owners, and a killed member named missing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from agent.livealarms import LiveAlarms
from lab.fleet import Lab
from lab.harness import AgentPool, client_for
from shared.alarmview import essence
from shared.federated import worst_first
from shared.livefeed import FeedTracker, Stamp, Verdict
from shared.wire import decode_publish
from tests.helpers.poollab import all_placed, lab_fixture, make_pool, pool_fixture
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


# -- pool.alarms in pages (one pool for the module's remaining tests) ---------------------
CAPPED = "p3"  # its bus caps messages at 8 KiB: a page of the whole pool's alarms is more
PAGE = 3  # alarms a page: the pool holds more than ten pages
PORTS_DOWN = (1, 2, 3, 4)  # on every NE: link-down alarms on all three agents


@pytest.fixture(scope="module")
def paged(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentPool]:
    root = tmp_path_factory.mktemp("paged")
    names = [d.name for d in lab.devices]
    with make_pool(lab, root, sections={CAPPED: {"bus": {"max_message": 8192}}}) as p:
        p.start_all()
        p.wait_for_master(60)
        all_placed(lab, p, set(p.agents))
        time.sleep(3 * 2.0)  # every port polled up once (a port never seen up raises nothing)
        try:
            for ne in names:
                for ifindex in PORTS_DOWN:
                    lab.if_down(ne, ifindex)
            wait_until(
                lambda: len(truth(p)) >= len(names) * len(PORTS_DOWN), 60, 0.5,
                "the link-down alarms on every agent",
            )  # fmt: skip
            yield p
        finally:
            for ne in names:
                for ifindex in PORTS_DOWN:
                    lab.if_up(ne, ifindex)


def truth(pool: AgentPool) -> dict:
    """The standing alarms as each live agent holds them, asked one by one (not federated)."""
    return essence(a for n in pool.live for a in pool.request(n, "alarms", timeout=5.0))


def test_more_alarms_than_a_page_come_back_exactly_through_the_pages(paged: AgentPool):
    from agent.alarmpages import fetch_alarms

    pool = paged
    cli = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
         str(pool._keys["operator"]), "--agent", "p1", "--json", "alarms",
         "--page-size", str(PAGE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    shown = json.loads(cli.stdout)
    assert shown["pages"] > 10 and not shown["partial"], shown["pages"]
    assert shown["items"] == worst_first(shown["items"])  # one order across the pages
    assert essence(shown["items"]) == truth(pool)
    assert len(shown["items"]) == len(essence(shown["items"])) == shown["total"]

    client = client_for(pool.db_url, pool._keys["operator"], timeout=5.0)
    live = LiveAlarms(client, page_size=PAGE, resync_every=3600.0)
    try:
        whole = fetch_alarms(client, limit=PAGE)
        assert whole["pages"] > 10 and sorted(whole["answered"]) == sorted(pool.agents)

        def same() -> bool:
            live.step(0.1)
            return live.view.resyncs >= 1 and live.view.summary() == truth(pool)

        wait_until(same, 30, 0.1, "the live view, read in pages, equal to the agents' set")
    finally:
        live.close()
        client.close()


def test_an_oversize_reply_is_a_clear_error_at_once(paged: AgentPool):
    from agent.alarmpages import fetch_alarms
    from agent.busclient import TooLarge

    pool = paged
    client = client_for(pool.db_url, pool._keys["operator"], CAPPED, timeout=20.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(TooLarge, match="above the bus limit of 8192"):
            client.request("pool.alarms", {"limit": 5000})
        assert time.monotonic() - t0 < 5.0, "waited for an answer that never came"
        assert len(fetch_alarms(client, limit=PAGE)["items"]) >= 36  # small pages fit
        stats = client.request("status")["bus"]
        assert stats["rejected_oversize_reply"] >= 1
    finally:
        client.close()
    t0 = time.monotonic()
    cli = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
         str(pool._keys["operator"]), "--agent", CAPPED, "alarms"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode != 0 and "too-large" in cli.stderr, cli.stderr
    assert time.monotonic() - t0 < 15.0


def test_a_member_killed_between_pages_is_named_missing(paged: AgentPool):
    pool = paged  # the module's last test: it kills an agent
    victim = "p2"
    args = {"limit": PAGE, "deadline": 1.0}
    reply = pool.request("p1", "pool.alarms", args, timeout=5.0)
    assert reply["answered"] == sorted(pool.agents) and reply["next"]
    pool.kill(victim)
    t0 = time.monotonic()
    items = list(reply["items"])
    for _ in range(100):
        if not reply["next"]:
            break
        reply = pool.request("p1", "pool.alarms", args | {"cursor": reply["next"]}, timeout=5.0)
        items += reply["items"]
    assert not reply["next"], "no last page"
    assert time.monotonic() - t0 < 20.0
    assert reply["partial"] and victim in reply["missing"], reply["missing"]
    assert victim not in reply["answered"]
    assert {a["agent"] for a in items} >= {"p1", CAPPED}
