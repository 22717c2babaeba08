"""Fault test 5: the database unavailable for 30 s under a pool of three real agents.

PostgreSQL is reached only through a TCP proxy the test controls; cutting it is the
outage (the server itself stays up, so the test still reads the lease, the assignment and
the event log on a connection of its own). While it is cut:
- no agent is master: the master cannot renew its lease and steps down, and nobody may
  become master without the lease, not even after the master is killed (kill -9, during
  the outage);
- the surviving agents keep polling the NEs they were assigned, and keep their events in
  their outboxes.
When it returns, without restarting anything, the pool elects a master with a new epoch,
the killed agent's NEs are assigned to and polled by the survivors, and the event log holds
every event the agents emitted exactly once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agent.db import Database, migrate
from agent.keys import read_key_file
from agent.outbox import Outbox
from lab.fleet import Lab
from lab.harness import AgentPool, PoolAgent, free_port
from tests.helpers import poolview
from tests.helpers.eventtap import EventTap
from tests.helpers.pgdb import temp_pg_database
from tests.helpers.poolview import (
    BusAddr,
    PoolDbView,
    agent_bus,
    duplicates,
    look,
    polls,
    request,
    role,
)
from tests.helpers.tcpproxy import ThreadedProxy
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]

OUTAGE = 30.0
INTERVAL = 2.0  # seconds between polls of one NE
NAMES = {"n1": 300, "n2": 200, "n3": 100}  # node -> priority: n1 is master when all live


@dataclass
class Member:
    """One agent of the test's AgentPool, with what the test needs to watch it."""

    agent: PoolAgent
    pub: str
    bus: BusAddr

    @property
    def name(self) -> str:
        return self.agent.node_id

    @property
    def log(self) -> Path:
        return self.agent.log

    @property
    def data_dir(self) -> Path:
        return self.agent.config.parent / "data"  # where AgentPool puts it (and its key)

    @property
    def alive(self) -> bool:
        return self.agent.running


def tail(m: Member, chars: int = 4000) -> str:
    try:
        return m.log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@pytest.fixture
def lab(tmp_path):
    lab = Lab.create(
        tmp_path / "lab",
        count=6,
        topology_kind="ring",
        base_address=random_base(),
        port=free_port(2),
    )
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def settled(view: PoolDbView, members: list[Member], nes: set[str]):
    return poolview.settled(view, {m.name: look(m.bus) for m in members if m.alive}, nes)


@pytest.mark.parametrize(
    "outage",
    [
        "refused",  # the proxy cut: connections reset, new ones refused
        "stalled",  # packets dropped: queries hang, connects time out
    ],
)
def test_database_down_30s_pool_holds_and_recovers_by_itself(lab, tmp_path, outage):
    nes = {d.name for d in lab.devices}
    with temp_pg_database() as url:
        migrate(url)
        with Database.open(url) as db:
            db.import_inventory(json.loads(lab.inventory_path.read_text()))
        # One NE pinned to each agent, so each surely owns one, and a second to the master:
        # its two are the orphans. Their new owner first sees their port 4 already down: with
        # link_alarms "monitor" every admin-up port that is down raises; the default policy
        # wants the port seen up first, by the previous owner (from its state snapshot).
        pins = dict(zip(sorted(nes), NAMES, strict=False))
        pins[orphans(nes)[1]] = "n1"
        poolview.set_nes(url, {ne: {"pin": node} for ne, node in pins.items()})
        poolview.set_nes(url, {orphans(nes)[0]: {"link_alarms": "monitor"}})
        direct = make_url(url)
        proxy = ThreadedProxy(direct.host or "127.0.0.1", direct.port or 5432)
        proxy.start()
        via = direct.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)
        view = PoolDbView(url)
        try:
            with AgentPool(tmp_path / "pool", via, INTERVAL) as pool:  # stops its agents
                key = pool.user("faults")  # an operator's key, made the real way
                members = [_member(pool.add(n, p), key) for n, p in NAMES.items()]
                tap = EventTap([(m.pub, m.bus.server_key) for m in members], read_key_file(key))
                try:
                    pool.start_all()
                    _scenario(lab, view, pool, members, nes, proxy, tap, outage)
                except BaseException:
                    for m in members:
                        print(f"---- {m.name} ----\n{tail(m)}")
                    raise
                finally:
                    tap.close()
        finally:
            view.close()
            proxy.close()  # after the agents stopped: their last flush goes through it


def _member(agent: PoolAgent, key: Path) -> Member:
    data_dir = agent.config.parent / "data"
    return Member(agent, _pub_of(agent.config), agent_bus(agent.router, data_dir, key))


def _pub_of(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("pub = "):
            return json.loads(line.split("=", 1)[1])
    raise AssertionError("no pub endpoint in the config")


def orphans(nes: set[str]) -> list[str]:
    """The NEs pinned to n1: link_alarms "monitor", then the default policy."""
    return [sorted(nes)[0], sorted(nes)[3]]


def _scenario(lab, view, pool, members, nes, proxy, tap, outage) -> None:
    by_name = {m.name: m for m in members}
    master, epoch, owners = wait_until(
        lambda: settled(view, members, nes), 90, 0.5, "a settled pool of three"
    )
    assert master == "n1"  # the highest-ranked
    lost = orphans(nes)  # pinned to n1

    def port_seen_up() -> bool:
        # The precondition of the default policy: the owner has seen port 4 up and said so
        # in the NE's state snapshot before the database goes away.
        with view.engine.connect() as conn:
            raw = conn.execute(
                text("SELECT snapshot FROM ne_state WHERE ne = :ne"), {"ne": lost[1]}
            ).scalar()
        return raw is not None and 4 in (json.loads(raw).get("ever_up") or [])

    wait_until(port_seen_up, 60, 0.5, f"{lost[1]}'s port 4 recorded as seen up")
    before = {m.name: polls(m.bus) for m in members}

    # -- the outage ------------------------------------------------------------------------
    (proxy.cut if outage == "refused" else proxy.stall)()
    t_cut = time.monotonic()

    def nobody_master() -> bool:
        return all((r := role(m.bus)) is not None and r.role != "master" for m in members)

    wait_until(nobody_master, 10, 0.2, "the master stepping down without its lease")
    stepped_down = time.monotonic() - t_cut

    victim = by_name[master]
    pool.kill(master)  # kill -9 during the outage
    survivors = [m for m in members if m.alive]
    assert all(owners[ne] == master for ne in lost)
    kept = sorted(ne for ne, a in owners.items() if a != master)[0]
    lab.if_down(kept, 4)  # a survivor's NE: raised now, written when the database returns
    for ne in lost:
        lab.if_down(ne, 4)  # the killed agent's NEs: nobody polls them until then

    while time.monotonic() - t_cut < OUTAGE:
        for m in survivors:
            r = role(m.bus)
            assert m.alive, f"{m.name} exited during the outage"
            assert r is not None and r.role != "master", f"{m.name} is {r} without the lease"
        lease = view.lease()
        assert lease is not None and (lease.holder, lease.epoch) == (master, epoch)
        time.sleep(0.5)
    for m in survivors:
        now = polls(m.bus)
        mine = {ne for ne, a in owners.items() if a == m.name}
        assert now is not None and set(now) == mine, f"{m.name} changed its NEs: {now}"
        for ne in mine:  # ~13 poll rounds fit in the outage: demand a few
            assert now[ne][0] >= before[m.name][ne][0] + 3, f"{ne} not polled by {m.name}"
    owner_of_kept = by_name[owners[kept]]
    assert _alarm(owner_of_kept.bus, kept), "link-down not raised during the outage"
    pending = request(owner_of_kept.bus, "status")["outbox"]["pending"]
    assert pending > 0  # the alarm waits in the outbox

    # -- the database returns -------------------------------------------------------------
    (proxy.restore if outage == "refused" else proxy.unstall)()
    t_back = time.monotonic()
    new_master, new_epoch, new_owners = wait_until(
        lambda: settled(view, members, nes), 60, 0.5, "the pool recovering by itself"
    )
    recovered = time.monotonic() - t_back
    assert new_master != master and new_epoch > epoch
    assert all(new_owners[ne] in {m.name for m in survivors} for ne in lost)
    for ne, a in owners.items():
        if a != master:  # only the killed agent's NEs move
            assert new_owners[ne] == a
    assert all(m.alive for m in survivors)  # nobody was restarted
    wait_until(
        lambda: all(_alarm(by_name[new_owners[ne]].bus, ne) for ne in lost),
        30,
        0.5,
        "the orphans' alarms",
    )

    # -- the event log: every emitted event once --------------------------------------------
    wait_until(
        lambda: all(request(m.bus, "status")["outbox"]["pending"] == 0 for m in survivors),
        60,
        0.5,
        "outboxes drained",
    )
    rows = view.events()
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    box = Outbox(victim.data_dir / "outbox.sqlite")  # what the killed agent could not write
    try:
        held = {e.id for e in box.peek(100_000)}
    finally:
        box.close()
    emitted = tap.events
    # The killed master's own lifecycle lines ("pool master: no longer master", logged just
    # before the kill -9) may still have been in the outbox's batch in memory: not alarms.
    missing = [
        e
        for e in emitted
        if e["id"] not in ids
        and e["id"] not in held
        and not (e["agent"] == master and e["type"] == "agent")
    ]
    assert not missing, missing
    assert not [e for e in emitted if e["agent"] != master and e["id"] not in ids]
    assert not duplicates(rows, ("alarm-raised",))
    raised = [r for r in rows if r["type"] == "alarm-raised" and r["obj"] == "ifIndex=4"]
    assert sorted(r["ne"] for r in raised) == sorted([kept, *lost])
    print(
        f"{outage}: master {master} stepped down {stepped_down:.1f} s after the cut; "
        f"{new_master} master (epoch {epoch} -> {new_epoch}) {recovered:.1f} s after the return"
    )


def _alarm(addr: BusAddr, ne: str) -> bool:
    alarms = request(addr, "alarms", {"ne": ne}) or []
    return any(a["type"] == "link-down" and a["obj"] == "ifIndex=4" for a in alarms)
