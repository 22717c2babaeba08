"""A real agent process (SQLite, its bus, its trap socket) fed by net-snmp's snmptrap, driven
by the CLI as an operator would: trap attribution when NEs share an address, engine-ID
learning that is persisted, visible and resettable, pinned engine IDs, contexts shown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import busclient
from lab.harness import client_for
from tests.helpers.netsnmp import free_udp_port

pytestmark = pytest.mark.timeout(120)

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
E1, E2, EP = "80001f8804aa000001", "80001f8804aa000002", "80001f8804bb0000ff"
V3_ARGS = ["-v3", "-u", "shelf", "-l", "authPriv", "-a", "SHA", "-x", "AES192C"]
KEYS = {"a": ["-A", "shelf-auth-a", "-X", "shelf-priv-a"]}
KEYS["b"] = ["-A", "shelf-auth-b", "-X", "shelf-priv-b"]


def _v3(name: str, side: str) -> dict[str, str]:
    return {
        "name": name,
        "version": "3",
        "user": "shelf",
        "auth_protocol": "sha",
        "auth_key": f"shelf-auth-{side}",
        "priv_protocol": "aes192c",
        "priv_key": f"shelf-priv-{side}",
        "context": "vrf-blue",
    }


def _ne(name: str, address: str, port: int, profile: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "address": address, "port": port, "profile": profile,
            "link_alarms": "monitor", **more}  # fmt: skip


INVENTORY = {
    "profiles": [
        {"name": "ca", "version": "2c", "community": "community-a"},
        {"name": "cb", "version": "2c", "community": "community-b"},
        _v3("shelf-a", "a"),
        _v3("shelf-b", "b"),
    ],
    "devices": [
        # A chassis with two management agents: one address, two ports, two communities.
        _ne("chassis-a", "127.0.0.1", 1161, "ca"),
        _ne("chassis-b", "127.0.0.1", 1162, "cb"),
        # Behind NAT with the same community: nothing tells their traps apart.
        _ne("twin-1", "127.0.0.2", 1161, "ca"),
        _ne("twin-2", "127.0.0.2", 1162, "ca"),
        # Two v3 agents on one address, same user: one pinned, one learnt from its traps.
        _ne("shelf-p", "127.0.0.3", 1161, "shelf-a", engine_id=EP),
        _ne("shelf-l", "127.0.0.3", 1162, "shelf-b", context="vrf-red"),
    ],
}


@dataclass
class Agent:
    router: str
    trap_port: int
    db: str
    proc: subprocess.Popen[bytes]
    key: str
    client: busclient.BusClient

    def request(self, op: str, args: dict[str, Any] | None = None) -> Any:
        return self.client.request(op, args, timeout=5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "--db",
                self.db,
                "--agent",
                self.router,
                "--key",
                self.key,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out

    def trap(self, source: str, *args: str, ifindex: int) -> None:
        out = subprocess.run(
            [
                "snmptrap",
                *args,
                f"--clientaddr={source}",
                f"udp:127.0.0.1:{self.trap_port}",
                "1",
                LINK_DOWN,
                f"{IF_INDEX}.{ifindex}",
                "i",
                str(ifindex),
            ],
            capture_output=True,
            text=True,
            timeout=15,
            env={**os.environ, "MIBS": ""},
        )
        assert out.returncode == 0, out.stderr


def _tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("agent-v3")
    db = f"sqlite:///{root / 'emspool.db'}"
    (root / "inv.json").write_text(json.dumps(INVENTORY))
    subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", db, "ne", "import", str(root / "inv.json")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "--db",
            db,
            "keys",
            "create",
            "v3-tester",
            "--role",
            "operator",
            "--out",
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key = str(root / "v3-tester.key")
    router, trap_port = f"tcp://127.0.0.1:{_tcp_port()}", free_udp_port()
    (root / "agent.toml").write_text(
        f'[agent]\nnode_id = "v3-test"\ndata_dir = "{root / "data"}"\n'
        f'[database]\nurl = "{db}"\n'
        f'[bus]\nrouter = "{router}"\npub = "tcp://127.0.0.1:{_tcp_port()}"\n'
        f'[traps]\nhost = "127.0.0.1"\nport = {trap_port}\n'
        "[polling]\ninterval = 3600\ntimeout = 0.5\nretries = 0\n"
    )
    with (root / "agent.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(root / "agent.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = client_for(db, Path(key), router)
    running = Agent(router, trap_port, db, proc, key, client)
    try:
        _until(lambda: _managed(running) == len(INVENTORY["devices"]), 30)
        yield running
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _managed(agent: Agent) -> int:
    try:
        return int(agent.request("status")["managed"])
    except busclient.Unreachable:
        return -1


def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _link_alarms(agent: Agent) -> set[tuple[str, str]]:
    return {(a["ne"], a["obj"]) for a in agent.request("alarms") if a["type"] == "link-down"}


def _states(agent: Agent) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in agent.request("ne_states")}


def test_two_nes_on_one_address_each_get_their_traps(agent: Agent) -> None:
    agent.trap("127.0.0.1", "-v2c", "-c", "community-a", ifindex=3)
    agent.trap("127.0.0.1", "-v2c", "-c", "community-b", ifindex=4)
    _until(lambda: {("chassis-a", "ifIndex=3"), ("chassis-b", "ifIndex=4")} <= _link_alarms(agent))
    assert agent.request("status")["traps"]["bad_community"] == 0


def test_same_address_and_community_is_warned_and_counted(agent: Agent) -> None:
    before = agent.request("status")["traps"]["ambiguous_source"]
    agent.trap("127.0.0.2", "-v2c", "-c", "community-a", ifindex=5)
    _until(lambda: agent.request("status")["traps"]["ambiguous_source"] == before + 1)
    assert not {ne for ne, _ in _link_alarms(agent)} & {"twin-1", "twin-2"}

    def warned(ne: str, other: str) -> bool:
        events = json.loads(agent.cli("--json", "events", "--ne", ne).stdout)["events"]
        return any(f"cannot always be told from {other}'s" in e["text"] for e in events)

    _until(lambda: warned("twin-1", "twin-2") and warned("twin-2", "twin-1"))


def test_v3_engine_ids_pinned_learnt_persisted_visible_and_reset(agent: Agent) -> None:
    traps = agent.request("status")["traps"]
    # Pinned: only that engine ID is accepted, with shelf-a's keys.
    agent.trap("127.0.0.3", *V3_ARGS, *KEYS["a"], "-e", f"0x{EP}", ifindex=1)
    # The other NE on that address, same user, its own keys: learns its engine from the trap.
    agent.trap("127.0.0.3", *V3_ARGS, *KEYS["b"], "-e", f"0x{E1}", ifindex=2)
    _until(lambda: {("shelf-p", "ifIndex=1"), ("shelf-l", "ifIndex=2")} <= _link_alarms(agent))

    def listed() -> dict[str, dict[str, Any]]:
        return {n["name"]: n for n in json.loads(agent.cli("--json", "ne", "list").stdout)}

    _until(lambda: listed()["shelf-l"]["learned_engine_id"] == E1)  # in the database
    states = _states(agent)
    assert (states["shelf-l"]["engine_id"], states["shelf-l"]["engine_source"]) == (E1, "learnt")
    assert (states["shelf-p"]["engine_id"], states["shelf-p"]["engine_source"]) == (EP, "pinned")
    assert states["shelf-l"]["context"] == "vrf-red"  # the NE's context wins
    assert states["shelf-p"]["context"] == "vrf-blue"  # else the profile's

    # A replaced device (new engine ID): refused until the operator resets what was learnt.
    agent.trap("127.0.0.3", *V3_ARGS, *KEYS["b"], "-e", f"0x{E2}", ifindex=6)
    agent.trap("127.0.0.3", *V3_ARGS, *KEYS["a"], "-e", f"0x{E2}", ifindex=7)  # pinned: no
    _until(lambda: agent.request("status")["traps"]["bad_v3"] == traps["bad_v3"] + 2)
    assert not {("shelf-l", "ifIndex=6"), ("shelf-p", "ifIndex=7")} & _link_alarms(agent)
    out = agent.cli("ne", "reset-engine", "shelf-l")
    assert "forgot its learnt SNMP engine ID" in out.stdout
    _until(lambda: _states(agent)["shelf-l"]["engine_id"] == "")
    agent.trap("127.0.0.3", *V3_ARGS, *KEYS["b"], "-e", f"0x{E2}", ifindex=8)
    _until(lambda: ("shelf-l", "ifIndex=8") in _link_alarms(agent))
    _until(lambda: listed()["shelf-l"]["learned_engine_id"] == E2)
    assert listed()["shelf-p"]["engine_id"] == EP
