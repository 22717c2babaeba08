"""The pool's fault tests with real agent processes on one SQLite database and the real lab
(snmpsim): kill -9 of the master and of a follower, a paused master, a flapping
highest-ranked agent, a trap sent to the wrong agent (issue 12, fault tests 1-4 and 8).

Bounds are generous (a loaded 2-core machine); the failover figures themselves are
measured by bench/pool_failover.py, not here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.db import migrate
from lab.fleet import Lab
from lab.harness import AgentPool
from shared.poolwire import AssignmentNotice, to_args
from tests.helpers.pgdb import temp_pg_database
from tests.helpers.poollab import INTERVAL, NODES, all_placed, lab_fixture, make_pool, pool_fixture
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEVICES = 12


lab = lab_fixture("poollab", DEVICES)
pool = pool_fixture()


def wait_repolled(pool: AgentPool, owners: dict[str, str], since: float) -> None:
    """Wait until each NE was polled after ``since`` by the agent ``owners`` names."""

    def unpolled() -> set[str]:
        left = set()
        for node in set(owners.values()):
            states = pool.request(node, "ne_states", timeout=2.0)
            polled = {s["name"] for s in states if (s.get("last_poll") or 0) > since}
            left |= {ne for ne, a in owners.items() if a == node} - polled
        return left

    wait_until(lambda: not unpolled(), 30, 0.2, "the moved NEs polled by their new owners")


def assert_one_owner_each(pool: AgentPool, samples: int = 10) -> None:
    """Over a few seconds, no NE is managed by two live agents."""
    for _ in range(samples):
        seen: dict[str, str] = {}
        for node in pool.live:
            for ne in pool.managed(node):
                assert ne not in seen, f"{ne} managed by {seen[ne]} and {node}"
                seen[ne] = node
        time.sleep(0.3)


def test_kill_the_master_a_new_master_repolls_its_nes(lab: Lab, pool: AgentPool) -> None:
    kill_the_master(lab, pool)


@pytest.mark.postgres
def test_kill_the_master_on_postgresql(lab: Lab, tmp_path: Path) -> None:
    """The same on PostgreSQL: the lease's row lock and database time there."""
    from agent.db import Database

    with temp_pg_database("emspool_pool") as url:
        migrate(url)
        with Database.open(url) as db:
            db.import_inventory(json.loads(lab.inventory_path.read_text()))
        with AgentPool(tmp_path / "agents", url, interval=INTERVAL) as pool:
            for node, priority in NODES.items():
                pool.add(node, priority=priority)
            pool.start_all()
            kill_the_master(lab, pool)


def kill_the_master(lab: Lab, pool: AgentPool) -> None:
    master, epoch = pool.wait_for_master(30)
    assert master == "p1"  # started together: the highest rank wins
    before = all_placed(lab, pool, set(NODES))
    orphans = {ne for ne, a in before.items() if a == master}
    assert orphans, "the rendezvous placement gave the master no NE: pick other names"
    killed = time.time()
    pool.kill(master)
    new_master, new_epoch = pool.wait_for_master(30, exclude={master})
    assert new_epoch > epoch and new_master == "p2"
    after = all_placed(lab, pool, set(NODES) - {master})
    # Only the dead agent's NEs moved.
    assert {ne for ne in after if after[ne] != before[ne]} == orphans
    wait_repolled(pool, {ne: after[ne] for ne in orphans}, killed)
    assert_one_owner_each(pool)
    st = pool.status(new_master)["pool"]
    assert st["assignment"]["epoch"] == new_epoch and st["assigner"]["written"] >= 1


def test_kill_a_follower_only_its_nes_move(lab: Lab, pool: AgentPool) -> None:
    master, epoch = pool.wait_for_master(30)
    before = all_placed(lab, pool, set(NODES))
    victim = "p3"
    assert {ne for ne, a in before.items() if a == victim}, "p3 got no NE: pick other names"
    killed = time.time()
    pool.kill(victim)
    after = wait_until(
        lambda: (t := pool.assignment()) and victim not in t.owners.values() and t.owners,
        30,
        0.2,
        "the dead follower's NEs reassigned",
    )
    moved = {ne for ne in after if after[ne] != before[ne]}
    assert moved == {ne for ne, a in before.items() if a == victim}
    assert pool.master() == (master, epoch)  # no election for a follower
    wait_repolled(pool, {ne: after[ne] for ne in moved}, killed)
    assert_one_owner_each(pool)


def test_paused_master_steps_down_and_its_epoch_is_fenced(lab: Lab, pool: AgentPool) -> None:
    master, old_epoch = pool.wait_for_master(30)
    all_placed(lab, pool, set(NODES))
    old_table = pool.assignment()
    pool.pause(master)
    try:
        new_master, new_epoch = pool.wait_for_master(30, exclude={master})
        assert new_epoch > old_epoch
        # What the paused master would say if it woke up still believing: rejected.
        stale = AssignmentNotice(master, old_epoch, old_table.version + 100, old_table.owners)
        follower = next(n for n in pool.live if n != new_master)
        wait_until(
            lambda: pool.status(follower)["pool"]["assignment"]["epoch"] == new_epoch,
            30,
            0.1,
            f"{follower} follows the table of epoch {new_epoch}",
        )
        before = pool.status(follower)["pool"]["assignment"]["rejected"]
        pool.request(follower, "pool.assignment", to_args(stale), user="member")
        after = pool.status(follower)["pool"]["assignment"]
        assert after["rejected"] == before + 1 and after["epoch"] == new_epoch
    finally:
        pool.resume(master)
    # It steps down and follows; no agent goes back to the old epoch meanwhile.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for node, st in pool.statuses().items():
            if st is not None and node != master:
                assert st["pool"]["assignment"]["epoch"] >= new_epoch, (node, st["pool"])
        back = pool.status(master)["pool"]
        if back["role"] == "follower" and back["assignment"]["epoch"] >= new_epoch:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the resumed master did not follow: {back}")
    assert back["master"] == new_master and back["election"]["stepped_down"] >= 1
    assert pool.wait_for_master(30) == (new_master, new_epoch)
    table = pool.assignment()
    assert table.epoch == new_epoch  # the old master wrote nothing after its pause
    assert_one_owner_each(pool)
    # The failover is in the event log, as each of the two masters saw it.
    query = {"types": ["agent"], "text": "pool master", "limit": 50}

    def logged() -> list[tuple[str, str]]:
        page = pool.request(new_master, "events.search", query, timeout=5.0)
        return [(e["agent"], e["text"]) for e in page["events"]]

    wanted = {
        (master, f"pool master: no longer master, epoch {old_epoch}"),
        (new_master, f"pool master: became master, epoch {new_epoch}"),
    }
    wait_until(
        lambda: all(any(t.startswith(w) and a == n for a, t in logged()) for n, w in wanted),
        30,
        0.5,
        "both masters' changes in the event log",
    )


def test_a_flapping_top_agent_causes_no_election_storm(lab: Lab, tmp_path: Path) -> None:
    """Restart the highest-ranked agent 5 times in about 30 s: a restart of the master is
    a real failure and may change the master once; a restart of p1 while it follows
    changes nothing (it is back within its hold-down each time); once it stays up, it
    takes over exactly once, after the hold-down."""
    hold_down = 8.0
    with make_pool(lab, tmp_path, preempt_delay=hold_down) as pool:
        pool.start_all()
        master, epoch = pool.wait_for_master(30)
        assert master == "p1"
        started = time.monotonic()
        for _ in range(5):
            was_master = pool.lease().holder == "p1"
            pool.restart("p1")  # SIGTERM, start again on the same ports
            master, new_epoch = pool.wait_for_master(30)
            changes = new_epoch - epoch
            assert changes <= (1 if was_master else 0), (was_master, epoch, new_epoch, master)
            epoch = new_epoch
        elapsed = time.monotonic() - started
        assert elapsed < 45, f"5 restarts took {elapsed:.0f} s"
        if master != "p1":
            # p1 follows a lower-ranked master: after its hold-down it takes over, once.
            master, new_epoch = pool.wait_for_master(hold_down + 30, exclude={"p2", "p3"})
            assert master == "p1" and new_epoch == epoch + 1
            epoch = new_epoch
        time.sleep(3)
        assert pool.wait_for_master(30) == ("p1", epoch)  # and it stays so


def test_a_trap_sent_to_a_non_owner_raises_the_alarm_on_the_owner(
    lab: Lab, pool: AgentPool
) -> None:
    pool.wait_for_master(30)
    owners = all_placed(lab, pool, set(NODES))
    for device in lab.devices[:2]:  # one v2c, one v3 device (the lab alternates)
        ne = device.name
        owner = owners[ne]
        other = next(n for n in NODES if n != owner)
        lab.if_down(ne, 6)
        lab.send_trap(ne, "linkDown", pool[other].trap, ifindex=6)

        def raised(ne: str = ne, owner: str = owner) -> dict | None:
            found = pool.request(owner, "alarms", {"ne": ne})
            return next((a for a in found if a["type"] == "link-down"), None)

        alarm = wait_until(raised, 10, 0.1, f"link-down on {ne} at its owner {owner}")
        assert alarm["active"] and alarm["obj"] == "ifIndex=6"
        assert pool.status(other)["pool"]["traps"]["forwarded"] >= 1
        assert pool.status(owner)["pool"]["traps"]["received_forwarded"] >= 1
        assert not pool.request(other, "alarms", {"ne": ne})
        lab.if_up(ne, 6)


def link_alarm(pool: AgentPool, node: str, ne: str, port: int) -> dict | None:
    found = pool.request(node, "alarms", {"ne": ne})
    return next((a for a in found if a["obj"] == f"ifIndex={port}"), None)


def test_the_taker_rebuilds_standing_alarms_with_raise_time_and_ack(
    lab: Lab, pool: AgentPool
) -> None:
    """Handover after kill -9: the new owner shows the dead owner's standing alarm with its
    first raise time and its acknowledgement, read back from the event log."""
    pool.wait_for_master(30)
    owners = all_placed(lab, pool, set(NODES))
    victim = "p3"  # a follower: the master's own failover is the test above
    ne = next(n for n, a in sorted(owners.items()) if a == victim)
    wait_repolled(pool, {ne: victim}, time.time())  # port 5 seen up before it goes down
    lab.if_down(ne, 5)
    try:
        first = wait_until(lambda: link_alarm(pool, victim, ne, 5), 20, 0.2, "link-down raised")
        key = {"ne": ne, "obj": "ifIndex=5", "type": first["type"]}
        pool.request(victim, "ack", key, user="carol")  # the key's name is recorded
        time.sleep(1.5)  # the outbox writer's usual pace: the ack reaches the event log
        pool.kill(victim)
        after = all_placed(lab, pool, set(NODES) - {victim})
        taker = after[ne]
        rebuilt = wait_until(lambda: link_alarm(pool, taker, ne, 5), 20, 0.2, "alarm rebuilt")
        assert rebuilt["active"] and rebuilt["acked_by"] == "carol"
        assert rebuilt["raised_at"] == pytest.approx(first["raised_at"], abs=1e-3)
    finally:
        lab.if_up(ne, 5)


def test_an_ne_removed_or_added_at_run_time_is_placed_quickly(lab: Lab, pool: AgentPool) -> None:
    from agent.db import Database

    pool.wait_for_master(30)
    owners = all_placed(lab, pool, set(NODES))
    ne = sorted(owners)[0]
    with Database.open(pool.db_url) as db:
        element = db.get_ne(ne)
        db.remove_ne(ne)
        t = time.monotonic()
        pool.wait_for_assignment(lambda tb: ne not in tb.owners, 10, f"{ne} dropped")
        wait_until(lambda: ne not in pool.managed(owners[ne]), 10, 0.1, f"{ne} released")
        removed_in = time.monotonic() - t
        db.add_ne(element)
        t = time.monotonic()
        table = pool.wait_for_assignment(lambda tb: ne in tb.owners, 10, f"{ne} placed")
        wait_until(lambda: ne in pool.managed(table.owners[ne]), 10, 0.1, f"{ne} managed")
        added_in = time.monotonic() - t
    # The target is 2 s; bounds here are for a loaded machine (figures: bench/).
    assert removed_in < 10 and added_in < 10
    assert table.owners[ne] == owners[ne]  # the same inputs give the same owner


def test_zones_and_pins_decide_where_an_ne_may_go(lab: Lab, tmp_path: Path) -> None:
    """An NE of a zone goes only to an agent serving it (and has no owner while none is
    live); a pinned NE goes to its agent."""
    from agent.db import Database

    with make_pool(lab, tmp_path, zone_agent=("p3", ["dc1"])) as pool:
        pool.start_all()
        pool.wait_for_master(30)
        owners = all_placed(lab, pool, set(NODES))
        zoned = next(ne for ne, a in sorted(owners.items()) if a != "p3")
        pinned = next(ne for ne, a in sorted(owners.items()) if a != "p2" and ne != zoned)
        with Database.open(pool.db_url) as db:
            db.update_ne(zoned, zone="dc1")
            db.update_ne(pinned, pin="p2")
        pool.wait_for_assignment(
            lambda t: t.owners.get(zoned) == "p3" and t.owners.get(pinned) == "p2",
            15,
            "the zoned NE on p3 and the pinned one on p2",
        )
        all_placed(lab, pool, set(NODES))  # and every agent manages what the table says
        pool.kill("p3")
        pool.wait_for_assignment(lambda t: zoned not in t.owners, 15, f"{zoned} unplaced")
        master, _ = pool.wait_for_master(30)
        assert pool.status(master)["pool"]["assigner"]["unplaced"] == 1
        assert all(zoned not in pool.managed(n) for n in pool.live)
        pool.start("p3")
        pool.wait_for_assignment(lambda t: t.owners.get(zoned) == "p3", 15, f"{zoned} back")
