"""Fault test 6: a partition 2 | 1 of a pool of three real agents, each in a network
namespace of its own (tests/helpers/netns.py), the database reached through a proxy per
agent on a link of its own.

The cut-off agent is either the master or a follower, and it either loses the database
too (its proxy cut) or still reaches it (only its bridge port down). In every case the
minority must hold no master while the partition lasts (the quorum rule), no NE the
majority gave away is polled by the cut-off agent meanwhile (it either reads the new table
or, reaching neither the database nor a majority, stops polling), and after healing the
pool must settle with exactly one master and one owner per NE.

The NEs are inventory only (nothing answers at their addresses): this is about who owns
them, not about polling them.
"""

from __future__ import annotations

import json
import time

import pytest

from agent.db import Database, migrate
from lab.fleet import Lab
from lab.harness import bus_key
from tests.helpers import poolview
from tests.helpers.netns import NetLab
from tests.helpers.nsagent import (
    NsAgent,
    last_polls,
    log_tail,
    prepare_agent,
    probe,
    start_agent,
)
from tests.helpers.pgdb import temp_pg_database
from tests.helpers.poolview import PoolDbView
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

PRIORITIES = {"a": 300, "b": 200, "c": 100}
PREEMPT = 3.0  # pool.preempt_delay: short, so a healed higher-ranked agent returns soon
PARTITION = 8.0  # seconds the partition is held once the majority has settled (>= 1 poll slot)
HANDOVER = 3.0  # seconds after the majority settled before the cut-off agent's polls count
POOL = {"preempt_delay": PREEMPT}


def looks(net: NetLab, agents: list[NsAgent]) -> dict[str, poolview.Look | None]:
    return {a.name: probe(net, a) for a in agents}


# Each pool lives through two partitions in turn (one of the master, one of a follower):
# the four cases on two pools instead of four, as a pool's start is half a case's time.
@pytest.mark.parametrize(
    "cases",
    [
        [("master", "lost"), ("follower", "kept")],
        # "master, kept" is the quorum rule: it steps down and gives the lease back.
        [("master", "kept"), ("follower", "lost")],
    ],
    ids=["master-lost,follower-kept", "master-kept,follower-lost"],
)
def test_partition_2_1_minority_holds_no_master(tmp_path, cases):
    lab = Lab.create(tmp_path / "lab", count=6, base_address=random_base(), port=16100)
    nes = {d.name for d in lab.devices}  # inventory only: the lab is never started
    with temp_pg_database() as url, NetLab(list(PRIORITIES)) as net:
        migrate(url)
        with Database.open(url) as database:
            database.import_inventory(json.loads(lab.inventory_path.read_text()))
        pins = dict(zip(sorted(nes), PRIORITIES, strict=False))  # each owns one at least
        poolview.set_nes(url, {ne: {"pin": node} for ne, node in pins.items()})
        key = bus_key(url, tmp_path)  # an operator's key, made as `emspool keys create` does
        agents = [
            prepare_agent(
                net,
                name,
                tmp_path,
                url,
                5.0,
                key,
                agent={"priority": prio},
                polling={"timeout": 0.5, "retries": 0},
                pool=POOL,
            )
            for name, prio in PRIORITIES.items()
        ]
        view = PoolDbView(url)
        try:
            for a in agents:
                start_agent(net, a)
            for cut_off, db in cases:
                _scenario(net, view, agents, nes, cut_off, db)
        except BaseException:
            for a in agents:
                print(f"---- {a.name} ----\n{log_tail(a)}")
            raise
        finally:
            view.close()  # the agents and namespaces go with ``net``


def _scenario(net, view, agents, nes, cut_off, db) -> None:
    by_name = {a.name: a for a in agents}

    def settled():
        for a in agents:
            assert a.proc.poll() is None, f"{a.name} exited"
        return poolview.settled(view, looks(net, agents), nes, reachable=False)

    # The highest-ranked leads (again, after an earlier case: once its hold-down is over).
    _, epoch, owners = wait_until(
        lambda: (s := settled()) and s[0] == "a" and s, 90, 0.5, "a settled pool of three led by a"
    )
    lone = by_name["a" if cut_off == "master" else "c"]
    rest = [a for a in agents if a is not lone]

    net.partition(lone.name)
    if db == "lost":
        lone.proxy.cut()
    t_cut, wall_cut = time.monotonic(), time.time()

    def majority_settled():
        return poolview.settled(view, {a.name: probe(net, a) for a in rest}, nes, reachable=False)

    # The majority keeps (or elects) a master of its own and takes the lone agent's NEs.
    try:
        m2, e2, owners2 = wait_until(majority_settled, 60, 0.5, "the majority settling")
    except AssertionError:
        print(f"lease {view.lease()}, table {view.assignment()}")
        for a in agents:
            print(f"{a.name}: {probe(net, a)}")
        raise
    majority_took = time.monotonic() - t_cut
    assert m2 in {a.name for a in rest}
    assert e2 >= epoch and (e2 > epoch) == (cut_off == "master")
    for ne, a in owners.items():
        if a != lone.name:  # only the cut-off agent's NEs move
            assert owners2[ne] == a
    theirs = {ne for ne, a in owners2.items() if a != lone.name}
    # Polls counted from a little after the majority settled on (HANDOVER: the cut-off
    # agent reading the new table when it reaches the database).
    time.sleep(HANDOVER)
    base = last_polls(net, lone)
    assert base is not None, f"{lone.name} does not answer in its own namespace"
    held_until = time.monotonic() + PARTITION
    while time.monotonic() < held_until:
        lk = probe(net, lone)
        assert lk is not None, f"{lone.name} does not answer in its own namespace"
        assert lk.role.role != "master", f"the minority holds a master: {lk.role}"
        lease = view.lease()
        assert lease is not None and (lease.holder != lone.name or lease.left <= 0)
        time.sleep(0.5)
    end = probe(net, lone)
    assert end is not None, f"{lone.name} does not answer in its own namespace"
    # Bug 2 of the first run: cut off from everything, it polled its old NEs all along.
    last = last_polls(net, lone)
    assert last is not None, f"{lone.name} does not answer in its own namespace"
    double = sorted(ne for ne in theirs & set(last) if last[ne] > base.get(ne, 0.0))
    polled = sorted(ne for ne in last if last[ne] > base.get(ne, 0.0))
    assert not double, f"{lone.name} polled NEs the majority gave to others: {double}"
    if db == "kept":  # it read the new table: it manages only what it still owns
        assert not set(end.nes) & theirs, sorted(set(end.nes) & theirs)

    net.heal(lone.name)
    if db == "lost":
        lone.proxy.restore()
    t_heal = time.monotonic()
    wait_until(settled, 60, 0.5, "one master and one owner per NE after healing")
    healed = time.monotonic() - t_heal
    # A healed higher-ranked agent may take over after its hold-down: still one master.
    time.sleep(PREEMPT + 3)
    m3, _, owners3 = wait_until(settled, 60, 0.5, "settled again after the hold-down")
    assert set(owners3) == nes and set(owners3.values()) <= set(by_name)
    fence = ""
    if cut_off == "master":
        # Never two masters: the cut-off one stepped down (its own clock, lease_hold) before
        # the majority's took the lease (database time, lease_ttl). One host: one clock.
        downs = [
            t for t, r, _, _ in poolview.role_changes(lone.log) if t >= wall_cut and r != "master"
        ]
        ups = [
            t for t, r, _, e in poolview.role_changes(by_name[m2].log) if r == "master" and e == e2
        ]
        assert downs, f"no 'pool: <role>, master ..' line of {lone.name} stepping down logged"
        assert ups, f"no 'pool: master, master {m2}, epoch {e2}' line logged"
        down, up = min(downs), min(ups)
        assert down < up, f"{lone.name} stepped down at {down}, {m2} master at {up}"
        fence = f"; the cut-off master stepped down {up - down:.2f} s before the new one rose"
    twice = poolview.duplicates(view.events(), ("alarm-raised",))
    print(
        f"{cut_off} cut off, database {db}: majority settled in {majority_took:.1f} s "
        f"(master {m2}, epoch {epoch} -> {e2}); healed and settled in {healed:.1f} s, "
        f"master {m3}; NEs the cut-off agent polled in the {PARTITION:.0f} s held: "
        f"{polled} (none of them another's); alarms raised twice in the event log so far: "
        f"{twice}{fence}"
    )
