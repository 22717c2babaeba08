"""The lab against real snmpsim processes, queried with net-snmp tools and pysnmp."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import recording, snmpio
from lab.fleet import Lab
from lab.state import V2C_PROFILE, V3_PROFILE, DeviceRuntime
from shared.errors import LabError, SnmpError, SnmpTimeout
from shared.model import CredentialProfile, SnmpVersion
from tests.helpers.waiting import common_free_port, device_addresses, random_base

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_OPER = f"{recording.IF_ENTRY}.{recording.IF_OPER_STATUS}"
IF_LAST_CHANGE = f"{recording.IF_ENTRY}.{recording.IF_LAST_CHANGE}"


def _snmp_args(profile: CredentialProfile) -> list[str]:
    if profile.version is SnmpVersion.V3:
        return [
            "-v3",
            "-l",
            "authPriv",
            "-u",
            profile.user,
            "-a",
            "SHA-256",
            "-A",
            profile.auth_key,
            "-x",
            "AES",
            "-X",
            profile.priv_key,
        ]
    return ["-v2c", "-c", profile.community]


def _net_snmp(
    tool: str, lab: Lab, dev: DeviceRuntime, oids: list[str], timeout: int = 2
) -> subprocess.CompletedProcess[str]:
    cmd = [tool, *_snmp_args(lab.profile_for(dev.name)), "-On", "-OQ", "-t", str(timeout)]
    cmd += ["-r", "1", f"{dev.address}:{dev.port}", *oids]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _values(out: str) -> dict[str, str]:
    values = {}
    for line in out.splitlines():
        oid, sep, value = line.partition(" = ")
        if sep:
            values[oid.lstrip(".")] = value.strip().strip('"')
    return values


def snmpget(lab: Lab, dev: DeviceRuntime, *oids: str) -> dict[str, str]:
    proc = _net_snmp("snmpget", lab, dev, list(oids))
    assert proc.returncode == 0, proc.stderr
    return _values(proc.stdout)


def walk(lab: Lab, dev: DeviceRuntime, oid: str) -> dict[str, str]:
    proc = _net_snmp("snmpbulkwalk", lab, dev, [oid])
    assert proc.returncode == 0, proc.stderr
    return _values(proc.stdout)


def _uptime(lab: Lab, dev: DeviceRuntime) -> int:
    # -OQ prints TimeTicks as "0:0:01:23.45"; -Ot gives the raw tick count.
    cmd = [
        "snmpget",
        *_snmp_args(lab.profile_for(dev.name)),
        "-On",
        "-Ot",
        "-Oqv",
        "-t",
        "2",
        f"{dev.address}:{dev.port}",
        snmpio.SYS_UPTIME,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = random_base()
    port = common_free_port(device_addresses(base, 3))
    state_dir = tmp_path_factory.mktemp("lab")
    with Lab.create(state_dir, 3, "ring", base_address=base, port=port, v3_share=0.5) as lab:
        yield lab


@pytest.fixture
def trap_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    try:
        yield sock
    finally:
        sock.close()


def _by_profile(lab: Lab, profile: str) -> DeviceRuntime:
    return next(d for d in lab.devices if d.profile == profile)


@pytest.mark.timeout(60)
def test_inventory_describes_every_device_and_link(lab: Lab) -> None:
    inv = json.loads(lab.inventory_path.read_text())
    assert {p["name"] for p in inv["profiles"]} == {V2C_PROFILE, V3_PROFILE}
    assert len(inv["devices"]) == 3 and len(inv["links"]) == 3
    assert {d["profile"] for d in inv["devices"]} == {V2C_PROFILE, V3_PROFILE}
    assert len({d["address"] for d in inv["devices"]}) == 3
    assert len({d["engine_id"] for d in inv["devices"]}) == 3
    assert os.stat(lab.inventory_path).st_mode & 0o077 == 0  # it holds secrets
    # The keys never reach the command line of the device processes.
    key = lab.profiles()[V3_PROFILE].auth_key
    for dev in lab.devices:
        assert dev.pid is not None
        assert key.encode() not in Path(f"/proc/{dev.pid}/cmdline").read_bytes()


@pytest.mark.timeout(90)
def test_walks_return_iftable_and_lldp_tables_agree(lab: Lab) -> None:
    devices = {d.name: d for d in lab.devices}
    tables = {}
    for name, dev in devices.items():
        if_table = walk(lab, dev, "1.3.6.1.2.1.2.2")
        # Routers: 24 ports and 2 VLAN sub-interfaces; switches: 48 and a management port.
        ports = 26 if dev.kind == "router" else 49
        assert sum(1 for oid in if_table if oid.startswith(f"{IF_OPER}.")) == ports
        assert snmpget(lab, dev, SYS_NAME)[SYS_NAME] == name
        tables[name] = walk(lab, dev, "1.0.8802.1.1.2.1")
    for link in lab.state.links:
        for (local, lport), (remote, rport) in (link.ends(), link.ends()[::-1]):
            rem = tables[local]
            row = f"0.{lport}.1"
            assert rem[f"{recording.LLDP_REM_ENTRY}.9.{row}"] == remote
            remote_port_id = tables[remote][f"{recording.LLDP_LOC}.7.1.3.{rport}"]
            assert rem[f"{recording.LLDP_REM_ENTRY}.7.{row}"] == remote_port_id
            remote_chassis = tables[remote][f"{recording.LLDP_LOC}.2.0"]
            assert rem[f"{recording.LLDP_REM_ENTRY}.5.{row}"] == remote_chassis


@pytest.mark.timeout(60)
async def test_v3_authpriv_get_with_empty_context(lab: Lab) -> None:
    dev = _by_profile(lab, V3_PROFILE)
    good = lab.profile_for(dev.name)
    bad = CredentialProfile(
        "bad",
        SnmpVersion.V3,
        user=good.user,
        auth_protocol=good.auth_protocol,
        auth_key="0" * 32,
        priv_protocol=good.priv_protocol,
        priv_key=good.priv_key,
    )
    async with snmpio.Session() as session:
        got = await session.get(dev.address, dev.port, good, [SYS_NAME, snmpio.SYS_UPTIME])
        assert got[SYS_NAME] == dev.name
        uptime = got[snmpio.SYS_UPTIME]
        assert isinstance(uptime, int) and uptime > 0
    async with snmpio.Session() as session:
        with pytest.raises(SnmpError):
            await session.get(dev.address, dev.port, bad, [SYS_NAME], timeout=0.5)
    # A v3 device is v3-only: the lab community gets no answer.
    async with snmpio.Session() as session:
        with pytest.raises(SnmpTimeout):
            community = lab.profiles()[V2C_PROFILE]
            await session.get(dev.address, dev.port, community, [SYS_NAME], timeout=0.5)


@pytest.mark.timeout(60)
def test_if_down_and_up_show_on_the_next_get_even_within_one_second(lab: Lab) -> None:
    for dev in lab.devices:
        before = snmpget(lab, dev, f"{IF_OPER}.1")
        assert before[f"{IF_OPER}.1"] == "1"
        lab.if_down(dev.name, 1)
        got = snmpget(lab, dev, f"{IF_OPER}.1", f"{IF_LAST_CHANGE}.1")
        assert got[f"{IF_OPER}.1"] == "2"
        assert got[f"{IF_LAST_CHANGE}.1"] != "0:0:00:00.00"
        # Immediately back up: the mtime bump makes snmpsim see the second change too.
        lab.if_up(dev.name, 1)
        assert snmpget(lab, dev, f"{IF_OPER}.1")[f"{IF_OPER}.1"] == "1"
    with pytest.raises(LabError, match="no ifIndex"):
        lab.if_down(lab.devices[0].name, 999)


@pytest.mark.timeout(60)
def test_unreachable_times_out_and_reachable_answers_again(lab: Lab) -> None:
    dev = lab.devices[0]
    lab.unreachable(dev.name)
    try:
        proc = _net_snmp("snmpget", lab, dev, [SYS_NAME], timeout=1)
        assert proc.returncode != 0 and "Timeout" in proc.stderr
        assert lab.device(dev.name).suspended
    finally:
        lab.reachable(dev.name)
    assert snmpget(lab, dev, SYS_NAME)[SYS_NAME] == dev.name


@pytest.mark.timeout(60)
def test_restart_resets_uptime_and_sends_cold_start(lab: Lab, trap_socket: socket.socket) -> None:
    dev = lab.devices[1]
    time.sleep(max(0.0, 2.0 - _uptime(lab, dev) / 100))  # let the old uptime grow past 2 s
    before = _uptime(lab, dev)
    old_pid = dev.pid
    lab.restart(dev.name, trap_target=trap_socket.getsockname())
    data, source = trap_socket.recvfrom(65535)
    assert source[0] == dev.address and data[0] == 0x30  # a BER SEQUENCE from the device
    after = _uptime(lab, dev)
    assert after < before
    new = lab.device(dev.name)
    assert new.pid != old_pid and old_pid is not None
    assert (
        not Path(f"/proc/{old_pid}").exists()
        or b"snmpsim" not in Path(f"/proc/{old_pid}/cmdline").read_bytes()
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("version", ["2c", "3"])
def test_traps_come_from_the_device_address(
    lab: Lab, trap_socket: socket.socket, version: str
) -> None:
    target = trap_socket.getsockname()
    for dev in lab.devices:
        lab.send_trap(dev.name, "linkDown", target, ifindex=2, version=version)
        data, source = trap_socket.recvfrom(65535)
        assert source[0] == dev.address
        assert data[0] == 0x30
        if version == "2c":
            assert lab.profiles()[V2C_PROFILE].community.encode() in data
        else:
            # v3 carries the device's engine ID as the authoritative engine, in clear.
            assert bytes.fromhex(dev.engine_id) in data


@pytest.mark.timeout(60)
async def test_async_trap_from_inside_a_loop(lab: Lab, trap_socket: socket.socket) -> None:
    dev = lab.devices[2]
    await lab.send_trap_async(dev.name, "coldStart", trap_socket.getsockname())
    _, source = trap_socket.recvfrom(65535)
    assert source[0] == dev.address


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(90)
def test_cli_in_another_process_injects_faults(lab: Lab, trap_socket: socket.socket) -> None:
    dev = lab.devices[0]
    sdir = str(lab.state_dir)
    proc = _cli("fault", "--state-dir", sdir, dev.name, "if-down", "2")
    assert proc.returncode == 0, proc.stderr
    assert snmpget(lab, dev, f"{IF_OPER}.2")[f"{IF_OPER}.2"] == "2"
    proc = _cli("status", "--state-dir", sdir)
    assert proc.returncode == 0, proc.stderr
    status = {s["name"]: s for s in json.loads(proc.stdout)}
    assert status[dev.name]["oper_down"] == [2] and status[dev.name]["alive"] is True
    assert _cli("fault", "--state-dir", sdir, dev.name, "if-up", "2").returncode == 0
    assert snmpget(lab, dev, f"{IF_OPER}.2")[f"{IF_OPER}.2"] == "1"
    host, port = trap_socket.getsockname()
    proc = _cli(
        "trap", "--state-dir", sdir, dev.name, "linkUp", "--ifindex", "3",
        "--version", "3", "--target", f"{host}:{port}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _, source = trap_socket.recvfrom(65535)
    assert source[0] == dev.address
    bad = _cli("fault", "--state-dir", sdir, "nosuch", "unreachable")
    assert bad.returncode == 1 and "no device" in bad.stderr


@pytest.mark.timeout(90)
def test_lab_run_stops_its_devices_on_sigterm(tmp_path: Path) -> None:
    base = random_base()
    port = common_free_port(device_addresses(base, 2))
    sdir = tmp_path / "run"
    runner = subprocess.Popen(
        [sys.executable, "-m", "lab", "run", "--count", "2", "--topology", "leaf-spine",
         "--state-dir", str(sdir), "--port", str(port), "--base", base],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert runner.stdout is not None
        line = runner.stdout.readline()
        assert "up in" in line, runner.stderr.read() if runner.stderr else ""
        pids = [d.pid for d in Lab.open(sdir).devices]
        assert all(pid is not None and Path(f"/proc/{pid}").exists() for pid in pids)
        runner.terminate()
        assert runner.wait(timeout=30) == 0
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        Lab.open(sdir).stop()


@pytest.mark.timeout(60)
def test_start_failure_shows_the_device_stderr(tmp_path: Path) -> None:
    base = random_base()
    port = common_free_port(device_addresses(base, 2))
    lab = Lab.create(tmp_path / "broken", 2, "ring", base_address=base, port=port)
    # Break one device's engine options the way a bad snmpsim upgrade might.
    args = tmp_path / "broken" / "devices" / "rtr002" / "args"
    args.write_text(args.read_text().replace("SHA256", "BOGUS"))
    t0 = time.monotonic()
    with pytest.raises(LabError) as info:
        lab.start(timeout=30)
    assert time.monotonic() - t0 < 20, "an exited device must fail fast, not time out"
    assert "rtr002" in str(info.value) and "BOGUS" in str(info.value)
    assert lab.profiles()[V3_PROFILE].auth_key not in str(info.value)
    # The healthy device was stopped too: nothing leaks.
    assert all(not s["alive"] and s["pid"] is None for s in lab.status())


IF_ADMIN = f"{recording.IF_ENTRY}.{recording.IF_ADMIN_STATUS}"
IF_IN_OCTETS = f"{recording.IF_ENTRY}.10"
IF_HC_IN = f"{recording.IFX_ENTRY}.6"
STATUS_NAMES = {"1": "up", "2": "down", "6": "notPresent", "7": "lowerLayerDown"}


def _status(values: dict[str, str], idx: int) -> str:
    v = values[str(idx)]  # -OQ prints enumerations by name where net-snmp knows IF-MIB
    return STATUS_NAMES.get(v, v)


def _column(lab: Lab, dev: DeviceRuntime, oid: str) -> dict[str, str]:
    return {o.rsplit(".", 1)[1]: v for o, v in walk(lab, dev, oid).items()}


@pytest.mark.timeout(60)
def test_devices_look_like_real_ones_empty_slots_unconnected_ports_sub_interfaces(
    lab: Lab,
) -> None:
    by_kind = {d.kind: d for d in lab.devices}
    switch, router = by_kind["switch"], by_kind["router"]
    oper, admin = _column(lab, switch, IF_OPER), _column(lab, switch, IF_ADMIN)
    assert all(_status(oper, i) == "up" for i in range(1, 25))
    assert all(_status(admin, i) == "up" and _status(oper, i) == "down" for i in range(25, 31))
    assert all(_status(admin, i) == "down" for i in range(31, 45))  # spares
    assert all(
        _status(admin, i) == "up" and _status(oper, i) == "notPresent" for i in range(45, 49)
    )
    # The 10 Mb/s management port: 32-bit counters only, no ifXTable counters.
    mgmt = str(recording.MGMT_IFINDEX)
    assert _status(oper, recording.MGMT_IFINDEX) == "up"
    assert f"{IF_IN_OCTETS}.{mgmt}" in walk(lab, switch, IF_IN_OCTETS)
    hc = walk(lab, switch, IF_HC_IN)
    assert f"{IF_HC_IN}.1" in hc and f"{IF_HC_IN}.{mgmt}" not in hc
    # Router sub-interfaces follow their parent: .100 on port 2 (up), .101 on an
    # unconnected port (lowerLayerDown); cutting port 2 takes its unit down with it.
    sub_up, sub_dead = router.ports + 1, router.ports + 2
    r_oper = _column(lab, router, IF_OPER)
    assert _status(r_oper, sub_up) == "up" and _status(r_oper, sub_dead) == "lowerLayerDown"
    key = f"{IF_OPER}.{sub_up}"
    lab.if_down(router.name, 2)
    try:
        assert STATUS_NAMES.get(v := snmpget(lab, router, key)[key], v) == "lowerLayerDown"
    finally:
        lab.if_up(router.name, 2)
    assert STATUS_NAMES.get(v := snmpget(lab, router, key)[key], v) == "up"
