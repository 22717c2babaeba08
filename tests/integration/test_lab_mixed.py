"""A mixed lab: SNMP devices (snmpsim) and NETCONF devices (one simulator) in one ring."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations.errors import TimeoutExpiredError

from lab.fleet import Lab
from lab.state import NETCONF, NETCONF_PROFILE, SNMP
from shared.errors import LabError
from tests.helpers.waiting import common_free_port, device_addresses, random_base
from tests.integration.test_lab import snmpget, walk

NS = {
    "if": "urn:ietf:params:xml:ns:yang:ietf-interfaces",
    "al": "urn:ietf:params:xml:ns:yang:ietf-alarms",
    "sys": "urn:ietf:params:xml:ns:yang:ietf-system",
    "lldp": "http://openconfig.net/yang/lldp",
}
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"
LLDP_REM_PORT_ID = f"{LLDP_REM}.7"
LLDP_REM_SYS_NAME = f"{LLDP_REM}.9"


def _plan(count: int) -> tuple[str, int, int]:
    base = random_base()
    addresses = device_addresses(base, count)
    return base, common_free_port(addresses), common_free_port(addresses, socket.SOCK_STREAM)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base, udp, tcp = _plan(4)
    sdir = tmp_path_factory.mktemp("mixed")
    with Lab.create(
        sdir, 4, "ring", base_address=base, port=udp, netconf_share=0.5, netconf_port=tcp
    ) as lab:
        yield lab


def _names(lab: Lab, protocol: str) -> list[str]:
    return [d.name for d in lab.devices if d.protocol == protocol]


@contextmanager
def _connect(lab: Lab, name: str, use_key: bool = False) -> Iterator[manager.Manager]:
    """A session that trusts only the host key the inventory pinned."""
    dev = lab.device(name)
    profile = lab.profile_for(name)
    secret = {"key_filename": profile.key_file} if use_key else {"password": profile.password}
    m = manager.connect(
        host=dev.address,
        port=dev.port,
        username=profile.user,
        hostkey_verify=True,
        hostkey_b64=dev.host_key.split()[1],
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
        **secret,
    )
    try:
        yield m
    finally:
        # No close-session: the tests hang and drop sessions on purpose.
        m._session.close()


def _get(m: manager.Manager) -> etree._Element:
    return etree.fromstring(m.get().xml.encode())


def _oper(doc: etree._Element, if_name: str) -> str | None:
    for itf in doc.iterfind(".//if:interfaces/if:interface", NS):
        if itf.findtext("if:name", namespaces=NS) == if_name:
            oper: str | None = itf.findtext("if:oper-status", namespaces=NS)
            return oper
    return None


def _alarms(doc: etree._Element) -> dict[tuple[str, str], tuple[str, str]]:
    """(type, resource) -> (severity, is-cleared)."""
    return {
        (a.findtext("al:alarm-type-id", "", NS), a.findtext("al:resource", "", NS)): (
            a.findtext("al:perceived-severity", "", NS),
            a.findtext("al:is-cleared", "", NS),
        )
        for a in doc.iterfind(".//al:alarms/al:alarm-list/al:alarm", NS)
    }


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=60
    )


def _expected_lldp(lab: Lab) -> dict[str, dict[str, tuple[str, str]]]:
    """From the inventory: device -> local port name -> (neighbour, neighbour's port)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for link in json.loads(lab.inventory_path.read_text())["links"]:
        out.setdefault(link["a"], {})[link["a_port"]] = (link["b"], link["b_port"])
        out.setdefault(link["b"], {})[link["b_port"]] = (link["a"], link["a_port"])
    return out


@pytest.mark.timeout(30)
def test_inventory_marks_protocols_and_pins_host_keys(lab: Lab) -> None:
    inv = json.loads(lab.inventory_path.read_text())
    devices = {d["name"]: d for d in inv["devices"]}
    netconf = [n for n, d in devices.items() if d["protocols"] == [NETCONF]]
    snmp = [n for n, d in devices.items() if d["protocols"] == [SNMP]]
    # Every other device, so each ring link crosses the protocol boundary.
    assert netconf == ["rtr002", "sw002"] and snmp == ["rtr001", "sw001"]
    profiles = {p["name"]: p for p in inv["profiles"]}
    nc_profile = profiles[NETCONF_PROFILE]
    assert "version" not in nc_profile
    assert nc_profile["user"] == "emsnc" and len(nc_profile["password"]) >= 16
    key_file = Path(nc_profile["key_file"])
    assert key_file.is_absolute() and key_file.read_text().startswith("-----BEGIN OPENSSH")
    for name in netconf:
        dev = devices[name]
        assert dev["profile"] == NETCONF_PROFILE and "engine_id" not in dev
        assert dev["netconf_port"] == dev["port"] == lab.state.netconf_port
        pub = (lab.state_dir / "devices" / name / "ssh_host_key.pub").read_text().split()
        assert dev["host_key"] == f"{pub[0]} {pub[1]}" and pub[0] == "ssh-ed25519"
    for name in snmp:
        assert (
            devices[name]["profile"] in profiles and "version" in profiles[devices[name]["profile"]]
        )
        assert devices[name]["engine_id"]
    for link in inv["links"]:
        assert {link["a"], link["b"]} & set(netconf) and {link["a"], link["b"]} & set(snmp)


@pytest.mark.timeout(30)
def test_both_kinds_answer_and_lldp_agrees_across_protocols(lab: Lab) -> None:
    expected = _expected_lldp(lab)
    for name in _names(lab, SNMP):
        dev = lab.device(name)
        assert snmpget(lab, dev, SYS_NAME)[SYS_NAME] == name
        if_names = {oid.rsplit(".", 1)[1]: v for oid, v in walk(lab, dev, IF_NAME).items()}
        rem = walk(lab, dev, LLDP_REM)
        seen = {}
        for oid, port_id in rem.items():
            if oid.startswith(LLDP_REM_PORT_ID + "."):
                local = oid.split(".")[-2]  # index: timeMark.localPortNum.remIndex
                sys_name = rem[oid.replace(LLDP_REM_PORT_ID, LLDP_REM_SYS_NAME, 1)]
                seen[if_names[local]] = (sys_name, port_id)
        assert seen == expected[name]
    for name in _names(lab, NETCONF):
        with _connect(lab, name, use_key=name == "sw002") as m:
            doc = _get(m)
        assert doc.findtext(".//sys:system/sys:hostname", namespaces=NS) == name
        seen = {
            itf.findtext("lldp:name", "", NS): (
                itf.findtext(".//lldp:system-name", "", NS),
                itf.findtext(".//lldp:port-id", "", NS),
            )
            for itf in doc.iterfind(".//lldp:lldp/lldp:interfaces/lldp:interface", NS)
        }
        assert seen == expected[name]
        # Every port LLDP names is one the device reports in ietf-interfaces.
        assert all(_oper(doc, port) == "up" for port in seen)


@pytest.mark.timeout(30)
def test_if_down_unreachable_and_restart_on_a_netconf_device(lab: Lab) -> None:
    name = "rtr002"
    port = next(iter(_expected_lldp(lab)[name]))
    ifindex = int(port.rsplit("/", 1)[1]) + 1  # ge-0/0/N is ifIndex N+1
    with _connect(lab, name) as m:
        boot = _get(m).findtext(".//sys:boot-datetime", namespaces=NS)
        lab.if_down(name, ifindex)
        doc = _get(m)
        assert _oper(doc, port) == "down"
        assert _alarms(doc)[("lab:link-down", port)] == ("major", "false")
        lab.if_up(name, ifindex)
        assert _oper(_get(m), port) == "up"

        lab.unreachable(name)
        assert {s["name"]: s for s in lab.status()}[name]["answering"] is False
        m.timeout = 1
        t0 = time.monotonic()
        with pytest.raises(TimeoutExpiredError):
            m.get()
        assert time.monotonic() - t0 < 3
    lab.reachable(name)
    with _connect(lab, name) as m:
        assert _oper(_get(m), port) == "up"
        time.sleep(1.1)  # boot-datetime has one-second resolution
        lab.restart(name)
        deadline = time.monotonic() + 5
        while m.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not m.connected  # restart drops the device's sessions
    with _connect(lab, name) as m:
        assert _get(m).findtext(".//sys:boot-datetime", namespaces=NS) != boot
    # The SNMP neighbour is untouched by all of this.
    snmp_dev = lab.device("rtr001")
    assert snmpget(lab, snmp_dev, SYS_NAME)[SYS_NAME] == "rtr001"


@pytest.mark.timeout(40)
def test_cli_in_another_process_routes_faults_by_protocol(lab: Lab) -> None:
    sdir = str(lab.state_dir)
    name = "sw002"
    raised = _cli(
        "fault", "--state-dir", sdir, name, "raise-alarm", "lab:fan-failure", "fan1",
        "--severity", "critical", "--text", "Fan 1 failed",
    )  # fmt: skip
    assert raised.returncode == 0, raised.stderr
    with _connect(lab, name) as m:
        assert _alarms(_get(m))[("lab:fan-failure", "fan1")] == ("critical", "false")
        other = Lab.open(sdir)  # as another process would, without its start-up cost
        other.clear_alarm(name, "lab:fan-failure", "fan1")
        assert _alarms(_get(m))[("lab:fan-failure", "fan1")][1] == "true"
        other.slow(name, 400)
        t0 = time.monotonic()
        _get(m)
        assert time.monotonic() - t0 >= 0.4
        other.slow(name, 0)

        other.drop_sessions(name)
        deadline = time.monotonic() + 5
        while m.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not m.connected

    status = _cli("status", "--state-dir", sdir)
    assert status.returncode == 0, status.stderr
    rows = {s["name"]: s for s in json.loads(status.stdout)}
    assert {n: r["protocol"] for n, r in rows.items()} == {
        "rtr001": SNMP, "rtr002": NETCONF, "sw001": SNMP, "sw002": NETCONF,
    }  # fmt: skip
    assert all(r["alive"] and r["answering"] for r in rows.values())

    with pytest.raises(LabError, match="SNMP device"):
        other.drop_sessions("rtr001")
    trap = _cli("trap", "--state-dir", sdir, name, "coldStart", "--target", "127.0.0.1:9")
    assert trap.returncode == 1 and "NETCONF device" in trap.stderr


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.timeout(60)
def test_lab_run_mixed_fleet_stops_every_process(tmp_path: Path) -> None:
    base, udp, tcp = _plan(2)
    sdir = tmp_path / "lab"
    runner = subprocess.Popen(
        [
            sys.executable, "-m", "lab", "run", "--count", "2", "--state-dir", str(sdir),
            "--base", base, "--port", str(udp), "--netconf-share", "0.5",
            "--netconf-port", str(tcp), "--start-timeout", "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert runner.stdout is not None
        line = runner.stdout.readline()
        assert "1 NETCONF" in line and "up in" in line, (
            runner.stderr.read() if runner.stderr else ""
        )
        state = json.loads((sdir / "lab.json").read_text())
        pids = {d["pid"] for d in state["devices"]} | {state["netconf_pid"]}
        assert len(pids) == 2 and None not in pids
        assert not any(_gone(pid) for pid in pids)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 0
        assert all(_gone(pid) for pid in pids)
        assert not (sdir / "netconf.sock").exists()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
