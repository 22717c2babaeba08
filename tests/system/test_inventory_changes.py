"""Inventory changes through the bus (issue 13): an NE added, pinned, zoned and removed
through whichever agent, in force pool-wide within seconds; viewers refused; a bad record
refused with a clear error and nothing written. Three real agents on SQLite, the scale
lab's devices (one responder process), real CURVE bus."""

from __future__ import annotations

import random
import time

import pytest

from agent.busclient import RequestFailed
from lab.harness import AgentPool, sqlite_pool
from lab.scale.fleet import ScaleLab
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

COUNT = 8
IN_FORCE = 10.0  # generous bound (issue: two seconds; measured in the log lines below)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("invops")
    lab = ScaleLab.create(
        root / "lab",
        COUNT,
        base_address=f"127.{random.randint(100, 250)}.0.0",
        port=random.randint(20000, 60000),
    )
    inventory = lab.inventory()
    held_back = inventory["devices"].pop()  # added through the bus by the test
    db_url = sqlite_pool(root / "emspool.db", inventory)
    lab.start()
    try:
        with AgentPool(root / "pool", db_url, interval=2.0) as p:
            p.user("viewer", "viewer")
            p.user("cli-operator")  # allowed before the agents start: no refresh to wait for
            for node, priority in {"inv-a": 300, "inv-b": 200, "inv-c": 100}.items():
                p.add(node, priority=priority)
            p.start_all()
            p.wait_for_master(60)
            yield p, lab, held_back
    finally:
        lab.stop()


def owner(p: AgentPool, ne: str) -> str | None:
    table = p.assignment()
    return None if table is None else table.owners.get(ne)


def test_add_pin_zone_remove_through_different_agents(pool):
    p, lab, device = pool
    name = device["name"]
    assert owner(p, name) is None
    t0 = time.monotonic()
    reply = p.request("inv-c", "db.ne.add", {"ne": device}, timeout=10.0)
    assert reply == {"ne": name, "changed": True}
    wait_until(lambda: owner(p, name), IN_FORCE, what=f"{name} placed")
    print(f"added through inv-c: placed in {time.monotonic() - t0:.2f} s")
    lab.control.mark()
    wait_until(lambda: lab.control.polls([name])[name][1] > 0, IN_FORCE, what=f"{name} polled")

    t0 = time.monotonic()
    target = next(n for n in ("inv-c", "inv-b", "inv-a") if n != owner(p, name))
    reply = p.request("inv-b", "db.ne.set", {"name": name, "changes": {"pin": target}})
    assert reply == {"ne": name, "changed": ["pin"]}
    wait_until(lambda: owner(p, name) == target, IN_FORCE, what=f"pinned to {target}")
    print(f"pinned to {target} through inv-b: moved in {time.monotonic() - t0:.2f} s")

    # A zone no agent serves: the NE has no owner (and the master says why in its log).
    reply = p.request("inv-a", "db.ne.set", {"name": name, "changes": {"pin": "", "zone": "z9"}})
    assert reply["changed"] == ["pin", "zone"]
    wait_until(lambda: owner(p, name) is None, IN_FORCE, what="unplaced in an unserved zone")

    reply = p.request("inv-b", "db.ne.remove", {"names": [name]}, timeout=10.0)
    assert reply == {"removed": [name]}
    inv = p.request("inv-a", "db.inventory", {"ne": name})
    assert inv["items"] == []


def test_viewer_and_bad_records_are_refused_and_nothing_is_written(pool):
    p, _, device = pool
    with pytest.raises(RequestFailed) as e:
        p.request("inv-a", "db.ne.add", {"ne": device | {"name": "viewer-ne"}}, user="viewer")
    assert e.value.code == "forbidden"
    bad = device | {"name": "bad-ne", "port": 70000}
    with pytest.raises(RequestFailed, match=r"bad-ne.*port"):
        p.request("inv-b", "db.ne.add", {"ne": bad})
    with pytest.raises(RequestFailed, match="not found"):
        p.request("inv-b", "db.ne.set", {"name": "no-such-ne", "changes": {"zone": "z1"}})
    for name in ("viewer-ne", "bad-ne"):
        assert p.request("inv-c", "db.inventory", {"ne": name})["items"] == []


def test_cli_changes_the_inventory_through_the_pool(pool):
    import subprocess
    import sys

    p, _, device = pool
    key = p.user("cli-operator")  # the fixture's key (already allowed)
    name = "cli-ne"

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent.cli", "--db", p.db_url, "--key", str(key), *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = cli("ne", "add", name, device["address"], "--profile", device["profile"], "--pool")
    assert out.returncode == 0, out.stderr
    out = cli("ne", "set", name, "--zone", "z2", "--pool")
    assert out.returncode == 0 and out.stdout.strip() == f"{name}: zone changed", out.stderr
    items = p.request("inv-a", "db.inventory", {"ne": name})["items"]
    assert items[0]["zone"] == "z2" and items[0]["address"] == device["address"]
    out = cli("ne", "remove", name, "--pool")
    assert out.returncode == 0, out.stderr
    assert p.request("inv-b", "db.inventory", {"ne": name})["items"] == []
