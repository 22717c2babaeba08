"""The admin CLI as an operator runs it: a separate process on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)


def emspool(db: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


INVENTORY = {
    "profiles": [
        {"name": "v2", "version": "2c", "community": "s3cret-community"},
        {
            "name": "v3",
            "version": "3",
            "user": "nms",
            "auth_protocol": "sha256",
            "auth_key": "s3cret-authkey",
            "priv_protocol": "aes",
            "priv_key": "s3cret-privkey",
        },
    ],
    "devices": [
        {"name": "rtr1", "kind": "router", "address": "127.0.0.11", "port": 1161, "profile": "v2"},
        {"name": "sw1", "kind": "switch", "address": "127.0.0.12", "port": 1161, "profile": "v3"},
    ],
    "links": [{"a": "rtr1", "a_port": "ge-0/0/1", "b": "sw1", "b_port": "Gi1/0/1"}],
}


def test_inventory_round_trip_and_secrets_stay_hidden(db, tmp_path):
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(INVENTORY))
    first = emspool(db, "ne", "import", str(inv))
    assert "2 NEs" in first.stdout
    emspool(db, "ne", "import", str(inv))  # idempotent
    listed = json.loads(emspool(db, "--json", "ne", "list").stdout)
    assert sorted(n["name"] for n in listed) == ["rtr1", "sw1"]
    table = emspool(db, "ne", "list").stdout
    assert "127.0.0.11:1161" in table and "NAME" in table.splitlines()[0]

    emspool(db, "ne", "add", "rtr2", "127.0.0.13", "--port", "1161", "--profile", "v2")
    dup = emspool(db, "ne", "add", "rtr2", "127.0.0.14", "--profile", "v2", ok=False)
    assert dup.returncode == 1 and "rtr2" in dup.stderr
    bad = emspool(db, "ne", "add", "rtr3", "127.0.0.15", "--profile", "nope", ok=False)
    assert bad.returncode == 1 and "nope" in bad.stderr
    emspool(db, "ne", "remove", "rtr2")
    gone = emspool(db, "ne", "remove", "rtr2", ok=False)
    assert gone.returncode == 1

    from agent.db import Database

    with Database.open(db) as d:  # `emspool links` asks an agent: tests/system/test_cli_bus.py
        assert [(k.a_ne, k.b_ne) for k in d.list_links()] == [("rtr1", "sw1")]

    profiles = emspool(db, "--json", "profile", "list").stdout
    assert {p["name"] for p in json.loads(profiles)} == {"v2", "v3"}
    for out in (profiles, emspool(db, "profile", "list").stdout, table):
        assert "s3cret" not in out


def test_bad_inventory_file_is_a_clear_error(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = emspool(db, "ne", "import", str(bad), ok=False)
    assert out.returncode == 1 and "bad.json" in out.stderr
    assert "Traceback" not in out.stderr


def test_alarms_without_an_agent_says_so(db):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "--agent",
            "tcp://127.0.0.1:9",
            "--timeout",
            "0.5",
            "alarms",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3 and "no answer" in out.stderr


# -- which database ---------------------------------------------------------------------------
def bare_emspool(cwd, *args: str) -> subprocess.CompletedProcess[str]:
    """emspool as run by someone with no --db, no config and no EMSPOOL_* in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMSPOOL_")}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


@pytest.mark.parametrize(
    "argv",
    [("ne", "list"), ("ne", "show", "rtr1"), ("profile", "list")],
)
def test_read_only_commands_never_create_a_database(tmp_path, argv):
    out = bare_emspool(tmp_path, *argv)
    default = tmp_path / "var" / "emspool.db"
    assert out.returncode == 1
    assert "emspool: using database sqlite:///var/emspool.db" in out.stderr
    assert f"no database at {default}" in out.stderr
    assert "--db" in out.stderr and "EMSPOOL_DB" in out.stderr
    assert not default.exists() and not (tmp_path / "var").exists()
    # An explicit URL to a missing file is no different: nothing is created there either.
    missing = tmp_path / "typo.db"
    out = bare_emspool(tmp_path, "--db", f"sqlite:///{missing}", *argv)
    assert out.returncode == 1 and f"no database at {missing}" in out.stderr
    assert "using database" not in out.stderr  # it was chosen, not defaulted
    assert not missing.exists()


@pytest.mark.parametrize("argv", [("events",), ("links",), ("whoami",)])
def test_bus_queries_ask_an_agent_and_never_create_a_database(tmp_path, argv):
    """`events`, `links`, `whoami` go to an agent (the database only names the agents):
    none answering is said, and no database appears."""
    from lab.harness import free_port

    nowhere = f"tcp://127.0.0.1:{free_port()}"
    out = bare_emspool(tmp_path, "--agent", nowhere, "--timeout", "0.5", *argv)
    assert out.returncode == 3 and f"no answer from {nowhere}" in out.stderr, out.stderr
    assert not (tmp_path / "var").exists()
    missing = tmp_path / "typo.db"
    out = bare_emspool(tmp_path, "--db", f"sqlite:///{missing}", "--agent", nowhere,
                       "--timeout", "0.5", *argv)  # fmt: skip
    assert out.returncode == 3 and not missing.exists()


def test_writing_to_the_default_database_says_which_one(tmp_path):
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(INVENTORY))
    out = bare_emspool(tmp_path, "ne", "import", str(inv))
    assert out.returncode == 0, out.stderr
    assert f"using database sqlite:///var/emspool.db = {tmp_path / 'var' / 'emspool.db'}" in (
        out.stderr
    )
    listed = bare_emspool(tmp_path, "ne", "list")
    assert listed.returncode == 0 and "rtr1" in listed.stdout


# -- ne list / add / set ----------------------------------------------------------------------
MIXED = {
    "profiles": [{"name": "v2", "version": "2c", "community": "c"}],
    "devices": [
        {
            "name": "nc1",
            "address": "127.0.0.21",
            "protocols": ["netconf"],
            "netconf_port": 8301,
            "profile": "v2",
        },
        {
            "name": "both1",
            "address": "127.0.0.22",
            "port": 1161,
            "protocols": ["snmp", "netconf"],
            "netconf_port": 8302,
            "profile": "v2",
            "managed": False,
        },
        {"name": "snmp1", "address": "127.0.0.23", "profile": "v2"},
    ],
}


def test_ne_list_shows_the_port_in_use_and_the_managed_flag(db, tmp_path):
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(MIXED))
    emspool(db, "ne", "import", str(inv))
    rows = {line.split()[0]: line for line in emspool(db, "ne", "list").stdout.splitlines()[1:]}
    head = emspool(db, "ne", "list").stdout.splitlines()[0]
    assert "MANAGED" in head
    assert "127.0.0.21:8301" in rows["nc1"] and ":161" not in rows["nc1"]
    assert "127.0.0.22:1161" in rows["both1"] and "netconf:8302" in rows["both1"]
    assert rows["both1"].split()[5] == "no" and rows["snmp1"].split()[5] == "yes"
    assert "127.0.0.23:161" in rows["snmp1"]


def stored(db: str, name: str):
    from agent.db import Database

    d = Database.open(db)
    try:
        return d.get_ne(name)
    finally:
        d.close()


def test_ne_add_and_set_take_the_inventory_options(db, tmp_path):
    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(INVENTORY))
    emspool(db, "ne", "import", str(inv))
    emspool(
        db, "ne", "add", "sw9", "127.0.0.30", "--profile", "v3", "--unmanaged",
        "--link-alarms", "monitor", "--interface-alarms", "Gi1/0/1=ignore", "3=monitor",
        "--engine-id", "80:00:1f:88:80:aa:bb:cc:dd", "--context", "vrf-red",
    )  # fmt: skip
    ne = stored(db, "sw9")
    assert (ne.managed, ne.link_alarms.value, ne.engine_id, ne.context) == (
        False, "monitor", "80001f8880aabbccdd", "vrf-red",
    )  # fmt: skip
    assert dict((k, m.value) for k, m in ne.interface_alarms) == {
        "Gi1/0/1": "ignore",
        "3": "monitor",
    }

    out = emspool(
        db, "ne", "set", "sw9", "--managed", "--link-alarms", "ignore",
        "--interface-alarms", "Gi1/0/1=", "7=default", "--engine-id", "", "--context", "",
    )  # fmt: skip
    assert out.stdout.startswith("sw9: ")
    ne = stored(db, "sw9")
    assert (ne.managed, ne.link_alarms.value, ne.engine_id, ne.context) == (True, "ignore", "", "")
    assert dict((k, m.value) for k, m in ne.interface_alarms) == {"3": "monitor", "7": "default"}
    assert ne.address == "127.0.0.30" and ne.profile == "v3"  # untouched
    assert emspool(db, "ne", "set", "sw9").stdout.strip() == "sw9: unchanged"

    listed = {n["name"]: n for n in json.loads(emspool(db, "--json", "ne", "list").stdout)}
    assert listed["sw9"]["link_alarms"] == "ignore" and listed["sw9"]["managed"] is True

    for bad, says in (
        (("--engine-id", "zz"), "not hex"),
        (("--engine-id", "0102"), "5 to 32 octets"),
        (("--interface-alarms", "Gi1/0/2=loud"), "'loud' is not one of"),
        (("--interface-alarms", "nomode"), "IF=MODE"),
    ):
        out = emspool(db, "ne", "set", "sw9", *bad, ok=False)
        assert out.returncode == 1 and says in out.stderr and "Traceback" not in out.stderr
    assert stored(db, "sw9") == ne  # a refused change changes nothing
    out = emspool(db, "ne", "set", "nosuch", "--unmanaged", ok=False)
    assert out.returncode == 1 and "nosuch" in out.stderr
    out = emspool(
        db, "ne", "add", "bad1", "127.0.0.31", "--profile", "v2", "--link-alarms", "x", ok=False
    )
    assert out.returncode == 2 and "invalid choice" in out.stderr


# -- --help -----------------------------------------------------------------------------------
def command_paths(parser, prefix=()):
    """(path, parser) of every sub-command, recursively."""
    import argparse

    out = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += command_paths(sub, (*prefix, name))
    return out


def test_help_shows_every_default(tmp_path):
    import argparse

    from agent.cli import build_parser

    checked = 0
    for path, parser in command_paths(build_parser()):
        if not parser.add_help:  # a missing plugin's stand-in: it has no options
            continue
        expected = [
            (a.option_strings[0], a.default)
            for a in parser._actions
            if a.option_strings
            and a.default not in (None, False, argparse.SUPPRESS)
            and not isinstance(a, argparse._StoreConstAction)
        ]
        if not expected:
            continue
        out = bare_emspool(tmp_path, *path, "--help")
        assert out.returncode == 0, out.stderr
        text = " ".join(out.stdout.split())
        for option, default in expected:
            # the option's own help line, up to the next option
            line = text.split(f" {option} ", 1)[1].split(" --", 1)[0]
            # an empty default may be named in words ("(default: none)")
            assert f"(default: {default})" in line or (default == "" and "(default: " in line), (
                path,
                option,
                line,
            )
            checked += 1
    assert checked >= 20  # ne add, demo, lab run, events, --timeout ... all seen


# -- ne show ----------------------------------------------------------------------------------
def test_ne_show_without_an_agent_shows_inventory_and_events(db, tmp_path):
    from agent.db import Database
    from lab.harness import free_port
    from shared.model import Event, Severity

    inv = tmp_path / "inv.json"
    inv.write_text(json.dumps(INVENTORY))
    emspool(db, "ne", "import", str(inv))
    emspool(db, "ne", "set", "sw1", "--engine-id", "8000000903aabbccdd", "--context", "vlan-20",
            "--interface-alarms", "Gi1/0/9=ignore")  # fmt: skip
    d = Database.open(db)
    try:
        d.insert_events(
            [
                Event(
                    time=1_700_000_000.0 + i,
                    ne="sw1",
                    type="trap",
                    severity=Severity.WARNING,
                    text=f"event number {i}",
                    agent="a1",
                )
                for i in range(3)
            ]
        )
    finally:
        d.close()
    nowhere = f"tcp://127.0.0.1:{free_port()}"
    out = emspool(db, "--agent", nowhere, "--timeout", "0.5", "ne", "show", "sw1")
    text = out.stdout
    for want in (
        "sw1  (switch, managed)",
        "127.0.0.12:1161",
        "snmp:1161",
        "profile      v3",
        "overrides Gi1/0/9=ignore",
        "8000000903aabbccdd (pinned)",
        "vlan-20",
        f"agent not reachable (no answer from {nowhere}",
        "recent events, from the database (3)",
        "event number 2",
    ):
        assert want in text, (want, text)
    assert "s3cret" not in text
    data = json.loads(
        emspool(db, "--agent", nowhere, "--timeout", "0.5", "--json", "ne", "show", "sw1").stdout
    )
    assert data["agent"]["reachable"] is False and data["state"] is None
    assert (
        data["ne"]["context"] == "vlan-20" and data["engine_id"]["pinned"] == "8000000903aabbccdd"
    )
    assert [e["text"] for e in data["events"]] == [
        "event number 2",
        "event number 1",
        "event number 0",
    ]
    assert "s3cret" not in json.dumps(data)
    missing = emspool(db, "--agent", nowhere, "ne", "show", "nope", ok=False)
    assert missing.returncode == 1 and "'nope' not found" in missing.stderr


@pytest.mark.timeout(180)
def test_ne_show_with_a_live_agent(tmp_path):
    import socket

    from lab.fleet import Lab
    from lab.harness import free_port
    from tests.helpers.agentproc import agent_for_lab
    from tests.helpers.waiting import random_base, wait_until

    lab = Lab.create(
        tmp_path / "lab", count=2, topology_kind="ring", base_address=random_base(),
        port=free_port(socket.SOCK_DGRAM),
    )  # fmt: skip
    lab.start()
    try:
        with agent_for_lab(lab, tmp_path, "show-agent", 1.0) as agent:
            name, other = lab.devices[0].name, lab.devices[1].name
            as_operator = ("--agent", agent.router, "--key", str(agent.key))

            def detail() -> dict:
                return agent.request("ne_detail", {"ne": name}, timeout=3)

            def polled_twice():
                st = detail()["state"]
                ok = st and st["reachable"] and st["neighbours"] and st["polls"] >= 2
                return st if ok else None

            wait_until(polled_twice, 30, what="two polls with LLDP")
            lab.if_down(name, 5)
            wait_until(lambda: detail()["alarms"], 15, what="link-down alarm")

            def shown():
                data = json.loads(
                    emspool(agent.db_url, *as_operator, "--json", "ne", "show", name).stdout
                )
                raised = [e for e in data["events"] if e["alarm_type"] == "link-down"]
                return data if raised else None

            data = wait_until(shown, 15, what="the alarm in the event log")
            text = emspool(agent.db_url, *as_operator, "ne", "show", name).stdout
    finally:
        lab.stop()
    st = data["state"]
    assert data["agent"] == {"endpoint": agent.router, "reachable": True, "agent": "show-agent"}
    assert st["reachable"] is True and st["sys_name"] and st["sys_uptime"] > 0
    by_index = {i["index"]: i for i in st["interfaces"]}
    assert by_index[5]["status"] == "down" and by_index[5]["admin_up"] is True
    assert any(i["in_bps"] is not None for i in st["interfaces"])  # rates after two polls
    assert other in {n["remote_name"] for n in st["neighbours"]}
    assert [(a["type"], a["obj"]) for a in data["alarms"]] == [("link-down", "ifIndex=5")]
    for want in (
        f"{name}  (",
        "live state (agent show-agent)",
        "reachable    yes",
        f"sys name     {st['sys_name']}",
        "uptime       0d ",
        f"interfaces ({len(st['interfaces'])})",
        f"neighbours ({len(st['neighbours'])})",
        other,
        "standing alarms (1)",
        "link-down",
    ):
        assert want in text, (want, text)
    row5 = next(line for line in text.splitlines() if line.split()[:1] == ["5"])
    assert row5.split()[2:4] == ["up", "down"], row5


def test_the_cli_never_writes_core_files():
    code = (
        "import resource, sys\n"
        "from agent.cli import main\n"
        "main(['--db', 'sqlite:///:memory:', 'db', 'current'])\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "(0, 0)", out.stderr
