"""The NETCONF simulator against real SSH clients: ncclient and a raw asyncssh client."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

from lab.netconf import fleet, hostile
from lab.netconf.control import MAX_LINE, ControlServer, NetconfControl
from lab.netconf.framing import Decoder, frame
from lab.netconf.model import NS_ALARMS, NS_IF, NS_LLDP, NS_SYS, DeviceSpec, Neighbour
from lab.netconf.sim import NetconfSimulator, ThreadedSimulator
from lab.topology import build
from tests.helpers.ncsim import CREDS, PASSWORD, ncclient_session
from tests.helpers.waiting import random_base

BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
NS_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NS_NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NS = {"if": NS_IF, "sys": NS_SYS, "al": NS_ALARMS, "lldp": NS_LLDP, "nc": NS_BASE}


def _addr(base: str, k: int) -> str:
    return base.rsplit(".", 1)[0] + f".{k}"


def _spec(base: str, k: int = 1, name: str = "rtr001") -> DeviceSpec:
    return DeviceSpec(
        name,
        _addr(base, k),
        0,
        neighbours={1: Neighbour("rtr002", "ge-0/0/1", "02:aa:bb:cc:dd:00")},
    )


class RawClient:
    """Just enough of a NETCONF client to see bytes on the wire and pick the framing."""

    def __init__(self, conn: asyncssh.SSHClientConnection, chunked: bool) -> None:
        self.conn = conn
        self.chunked = chunked
        self.decoder = Decoder(64 * 1024 * 1024)
        self.pending: list[bytes] = []
        self.server_hello = b""
        self._msg_id = 0
        self.writer: asyncssh.SSHWriter[bytes]
        self.reader: asyncssh.SSHReader[bytes]

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        caps: tuple[str, ...] = (BASE_10, BASE_11),
        password: str = PASSWORD,
        known_hosts: object = None,
    ) -> RawClient:
        conn = await asyncssh.connect(
            host,
            port,
            username="emsnc",
            password=password,
            known_hosts=known_hosts,
            client_keys=None,
            agent_path=None,
            connect_timeout=5,
        )
        self = cls(conn, chunked=BASE_11 in caps)
        self.writer, self.reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        self.server_hello = await self.recv(chunked=False)
        hello = "".join(f"<capability>{c}</capability>" for c in caps)
        self.writer.write(
            frame(
                f'<hello xmlns="{NS_BASE}"><capabilities>{hello}</capabilities></hello>'.encode(),
                False,
            )
        )
        self.decoder.chunked = self.chunked
        return self

    async def recv(self, timeout: float = 5.0, chunked: bool | None = None) -> bytes:
        async with asyncio.timeout(timeout):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("session closed")
                self.pending += self.decoder.feed(data)
            return self.pending.pop(0)

    async def rpc(self, body: str, timeout: float = 5.0) -> etree._Element:
        self._msg_id += 1
        self.send(f'<rpc xmlns="{NS_BASE}" message-id="{self._msg_id}">{body}</rpc>'.encode())
        return etree.fromstring(await self.recv(timeout))

    def send(self, message: bytes) -> None:
        self.writer.write(frame(message, self.chunked))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[NetconfSimulator]:
    simulator = NetconfSimulator(tmp_path, CREDS)
    simulator.add_device(_spec(random_base()))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


@pytest.fixture
def threaded(tmp_path: Path) -> Iterator[ThreadedSimulator]:
    with ThreadedSimulator(tmp_path, CREDS, [_spec(random_base())]) as ts:
        yield ts


@pytest.mark.timeout(30)
def test_get_over_ncclient_returns_the_contract_data(threaded: ThreadedSimulator) -> None:
    with ncclient_session(threaded, "rtr001") as m:
        assert "urn:ietf:params:netconf:capability:notification:1.0" in m.server_capabilities
        assert any("module=ietf-alarms" in c for c in m.server_capabilities)
        threaded.call(
            threaded.sim.raise_alarm,
            "rtr001",
            "lab:fan-failure",
            "fan1",
            "critical",
            "Fan 1 stopped",
        )
        first = etree.fromstring(m.get().xml.encode())
        time.sleep(0.05)
        second = etree.fromstring(m.get().xml.encode())
    ifs = first.findall(".//if:interfaces/if:interface", NS)
    assert len(ifs) == 24
    admin = [i.findtext("if:admin-status", namespaces=NS) for i in ifs]
    assert admin == ["up"] * 12 + ["down"] * 12
    assert ifs[0].findtext("if:name", namespaces=NS) == "ge-0/0/0"
    assert ifs[0].findtext("if:oper-status", namespaces=NS) == "up"
    assert ifs[0].findtext("if:if-index", namespaces=NS) == "1"
    assert ifs[0].findtext("if:type", namespaces=NS) == "ianaift:ethernetCsmacd"

    def octets(doc: etree._Element) -> int:
        return int(doc.findtext(".//if:interface/if:statistics/if:in-octets", namespaces=NS) or 0)

    assert octets(second) > octets(first) > 0
    assert first.findtext(".//sys:system/sys:hostname", namespaces=NS) == "rtr001"
    assert first.findtext(".//sys:system-state/sys:clock/sys:boot-datetime", namespaces=NS)
    alarm = first.find(".//al:alarms/al:alarm-list/al:alarm", NS)
    assert alarm is not None
    assert alarm.findtext("al:alarm-type-id", namespaces=NS) == "lab:fan-failure"
    assert alarm.findtext("al:perceived-severity", namespaces=NS) == "critical"
    assert alarm.findtext("al:is-cleared", namespaces=NS) == "false"
    peer = first.find(".//lldp:lldp/lldp:interfaces/lldp:interface", NS)
    assert peer is not None and peer.findtext("lldp:name", namespaces=NS) == "ge-0/0/0"
    assert peer.findtext(".//lldp:system-name", namespaces=NS) == "rtr002"


@pytest.mark.timeout(30)
def test_filter_get_config_and_unknown_rpc(threaded: ThreadedSimulator) -> None:
    with ncclient_session(threaded, "rtr001") as m:
        only = etree.fromstring(
            m.get(filter=("subtree", f'<alarms xmlns="{NS_ALARMS}"/>')).xml.encode()
        )
        config = etree.fromstring(m.get_config("running").xml.encode())
        with pytest.raises(RPCError) as err:
            m.dispatch(to_ele('<frobnicate xmlns="urn:example:nothing"/>'))
    data = only.find("nc:data", NS)
    assert data is not None and [etree.QName(c).localname for c in data] == ["alarms"]
    assert config.findtext(".//sys:system/sys:hostname", namespaces=NS) == "rtr001"
    assert config.find(".//if:interface/if:oper-status", NS) is None  # config only
    assert config.findtext(".//if:interface/if:enabled", namespaces=NS) == "true"
    assert err.value.tag == "operation-not-supported"


@pytest.mark.timeout(30)
def test_subscription_gets_interface_and_alarm_notifications(threaded: ThreadedSimulator) -> None:
    with ncclient_session(threaded, "rtr001") as m:
        m.create_subscription()
        threaded.call(threaded.sim.if_down, "rtr001", 3)
        got = [m.take_notification(timeout=3) for _ in range(2)]
        alarms = etree.fromstring(
            m.get(filter=("subtree", f'<alarms xmlns="{NS_ALARMS}"/>')).xml.encode()
        )
        threaded.call(threaded.sim.if_up, "rtr001", 3)
        cleared = [m.take_notification(timeout=3) for _ in range(2)]
    xml = [n.notification_xml for n in got if n is not None]
    assert len(xml) == 2
    assert "<interface-state-change" in xml[0] and "<oper-status>down</oper-status>" in xml[0]
    assert "<alarm-notification" in xml[1] and "lab:link-down" in xml[1]
    assert "<perceived-severity>major</perceived-severity>" in xml[1]
    assert alarms.findtext(".//al:alarm/al:resource", namespaces=NS) == "ge-0/0/2"
    assert "<oper-status>up</oper-status>" in cleared[0].notification_xml
    assert "<perceived-severity>cleared</perceived-severity>" in cleared[1].notification_xml


@pytest.mark.timeout(30)
async def test_base_10_and_11_framing(sim: NetconfSimulator) -> None:
    dev = sim.devices["rtr001"]
    old = await RawClient.open(dev.spec.address, dev.spec.port, caps=(BASE_10,))
    new = await RawClient.open(dev.spec.address, dev.spec.port)
    try:
        assert b"<session-id>" in old.server_hello and BASE_11.encode() in old.server_hello
        old.send(f'<rpc xmlns="{NS_BASE}" message-id="7"><get/></rpc>'.encode())
        raw = b""
        async with asyncio.timeout(5):
            while not raw.endswith(b"]]>]]>"):
                raw += await old.reader.read(65536)
        assert raw.startswith(b"<rpc-reply") and b'message-id="7"' in raw
        new.send(f'<rpc xmlns="{NS_BASE}" message-id="8"><get/></rpc>'.encode())
        async with asyncio.timeout(5):
            head = await new.reader.read(16)
        assert head.startswith(b"\n#")  # chunked framing
        assert len(dev.sessions) == 2
    finally:
        old.close()
        new.close()


@pytest.mark.timeout(30)
async def test_malformed_xml_and_missing_message_id_get_rpc_errors(sim: NetconfSimulator) -> None:
    dev = sim.devices["rtr001"]
    client = await RawClient.open(dev.spec.address, dev.spec.port)
    try:
        client.send(b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get>")
        bad = etree.fromstring(await client.recv())
        client.send(f'<rpc xmlns="{NS_BASE}"><get/></rpc>'.encode())
        no_id = etree.fromstring(await client.recv())
        # Entities in a request are never expanded: this one would be ~10^9 "lol"s.
        laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        client.send(
            f'<!DOCTYPE rpc [<!ENTITY l0 "lol">{laughs}]><rpc xmlns="{NS_BASE}" message-id="9">'
            '<get><filter type="subtree"><alarms xmlns="urn:x">&l9;</alarms></filter></get>'
            "</rpc>".encode()
        )
        laughed = etree.fromstring(await client.recv(timeout=3))
        reply = await client.rpc(
            '<get><filter type="subtree"><alarms xmlns="urn:x"/></filter></get>'
        )
    finally:
        client.close()
    assert bad.findtext(".//nc:error-tag", namespaces=NS) == "malformed-message"
    assert no_id.findtext(".//nc:error-tag", namespaces=NS) == "missing-attribute"
    assert laughed.findtext(".//nc:error-tag", namespaces=NS) == "malformed-message"
    data = reply.find("nc:data", NS)
    assert data is not None and len(data) == 0  # wrong namespace selects nothing


@pytest.mark.timeout(30)
async def test_hang_withholds_replies_and_handshakes_until_resume(sim: NetconfSimulator) -> None:
    dev = sim.devices["rtr001"]
    client = await RawClient.open(dev.spec.address, dev.spec.port)
    try:
        sim.hang("rtr001")
        with pytest.raises(TimeoutError):
            await client.rpc("<get/>", timeout=0.5)
        # TCP connects, but no SSH banner ever comes.
        reader, writer = await asyncio.open_connection(dev.spec.address, dev.spec.port)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await reader.read(1)
        sim.resume("rtr001")
        late = etree.fromstring(await client.recv())  # the withheld reply
        async with asyncio.timeout(5):
            banner = await reader.readline()
        writer.close()
        reply = await client.rpc("<get/>")
    finally:
        client.close()
    assert late.find("nc:data", NS) is not None
    assert banner.startswith(b"SSH-2.0-")
    assert reply.find("nc:data", NS) is not None


@pytest.mark.timeout(30)
async def test_slow_and_drop_sessions(sim: NetconfSimulator) -> None:
    dev = sim.devices["rtr001"]
    client = await RawClient.open(dev.spec.address, dev.spec.port)
    try:
        t0 = time.monotonic()
        await client.rpc("<get/>")
        fast = time.monotonic() - t0
        sim.slow("rtr001", 300)
        t0 = time.monotonic()
        await client.rpc("<get/>")
        slow = time.monotonic() - t0
        sim.slow("rtr001", 0)
        await sim.drop_sessions("rtr001")
        with pytest.raises((EOFError, asyncssh.Error, ConnectionError)):
            await client.rpc("<get/>", timeout=3)
    finally:
        client.close()
    assert slow >= 0.3 > fast
    assert slow - fast >= 0.25
    assert dev.sessions == set()


@pytest.mark.timeout(30)
async def test_wrong_password_and_wrong_host_key_are_refused(
    sim: NetconfSimulator, tmp_path: Path
) -> None:
    dev = sim.devices["rtr001"]
    with pytest.raises(asyncssh.PermissionDenied):
        await RawClient.open(dev.spec.address, dev.spec.port, password="not-the-password-at-all")
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{dev.spec.address}]:{dev.spec.port} {other[0]} {other[1]}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await RawClient.open(dev.spec.address, dev.spec.port, known_hosts=str(wrong))
    right = tmp_path / "known_hosts"
    right.write_text(dev.known_hosts_line + "\n")
    client = await RawClient.open(dev.spec.address, dev.spec.port, known_hosts=str(right))
    client.close()


@pytest.mark.timeout(30)
async def test_host_key_persists_and_restart_resets_boot_time(tmp_path: Path) -> None:
    base = random_base()
    first = NetconfSimulator(tmp_path, CREDS)
    key1 = first.add_device(_spec(base)).public_key
    await first.start()
    try:
        dev = first.devices["rtr001"]
        client = await RawClient.open(dev.spec.address, dev.spec.port)
        query = f'<get><filter type="subtree"><system-state xmlns="{NS_SYS}"/></filter></get>'
        before = (await client.rpc(query)).findtext(".//sys:boot-datetime", namespaces=NS)
        await asyncio.sleep(0.01)
        await first.restart("rtr001")
        with pytest.raises((EOFError, asyncssh.Error, ConnectionError)):
            await client.rpc("<get/>", timeout=3)
        client = await RawClient.open(dev.spec.address, dev.spec.port)
        after = (await client.rpc(query)).findtext(".//sys:boot-datetime", namespaces=NS)
        client.close()
    finally:
        await first.close()
    key_file = tmp_path / "devices" / "rtr001" / "ssh_host_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = NetconfSimulator(tmp_path, CREDS)
    assert second.add_device(_spec(base)).public_key == key1
    assert key1.startswith("ssh-ed25519 ")
    assert before and after and after > before


@pytest.mark.timeout(30)
async def test_hostile_replies(sim: NetconfSimulator, tmp_path: Path) -> None:
    dev = sim.devices["rtr001"]
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret")
    client = await RawClient.open(dev.spec.address, dev.spec.port)
    try:
        replies = {}
        for mode, size in (
            (hostile.BILLION_LAUGHS, None),
            (hostile.XXE, None),
            (hostile.DEEP, None),
            (hostile.HUGE, 3_000_000),
        ):
            sim.hostile("rtr001", mode, path=str(secret), size=size)
            client.send(f'<rpc xmlns="{NS_BASE}" message-id="{mode}"><get/></rpc>'.encode())
            replies[mode] = await client.recv(timeout=10)
        normal = await client.rpc("<get/>")  # armed once only
        await client.rpc(f'<create-subscription xmlns="{NS_NOTIF}"/>')
        sim.hostile("rtr001", hostile.MALFORMED_NOTIFICATION)
        bad = [await client.recv(), await client.recv()]
        still = await client.rpc("<get/>")
    finally:
        client.close()
    assert b"<!ENTITY lol9" in replies[hostile.BILLION_LAUGHS]
    assert f"file://{secret}".encode() in replies[hostile.XXE]
    assert b"top-secret" not in replies[hostile.XXE]
    assert replies[hostile.DEEP].count(b"<x>") == hostile.DEFAULT_DEPTH
    assert 2_900_000 <= len(replies[hostile.HUGE]) <= 3_100_000
    assert etree.fromstring(replies[hostile.HUGE], etree.XMLParser(huge_tree=True)) is not None
    assert normal.find("nc:data", NS) is not None
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(bad[0])
    assert b"apocalyptic" in bad[1]
    assert still.find("nc:data", NS) is not None


def _fault_cli(state_dir: Path, *words: str) -> subprocess.CompletedProcess[str]:
    """``python -m lab.netconf fault`` from a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lab.netconf", "fault", "--state-dir", str(state_dir), *words],
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.timeout(60)
def test_fleet_process_and_control_from_another_process(tmp_path: Path) -> None:
    import socket as sk

    base = random_base()
    with sk.socket() as probe:
        probe.bind((_addr(base, 1), 0))
        port = probe.getsockname()[1]
    topo = build("ring", 3)
    specs = fleet.specs_from_topology(topo, [_addr(base, k) for k in (1, 2, 3)], port)
    inventory = fleet.create(tmp_path, specs)
    proc = fleet.start(tmp_path)
    try:
        sock_mode = stat.S_IMODE((tmp_path / "netconf.sock").stat().st_mode)
        fault = _fault_cli(tmp_path, "if_down", "device=rtr001", "ifindex=1")
        bad = _fault_cli(tmp_path, "if_down", "device=nosuch", "ifindex=1")
        status = {d["name"]: d for d in NetconfControl(tmp_path).status()}
        dev = inventory["devices"][0]
        profile = inventory["profiles"][0]
        m = manager.connect(
            host=dev["address"],
            port=dev["netconf_port"],
            username=profile["user"],
            key_filename=profile["key_file"],
            hostkey_verify=True,
            hostkey_b64=dev["host_key"].split()[1],
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
        )
        with m:
            reply = etree.fromstring(m.get().xml.encode())
    finally:
        fleet.stop(proc)
    assert proc.returncode == 0  # SIGTERM handled: sessions closed, socket removed
    assert not (tmp_path / "netconf.sock").exists()
    assert sock_mode == 0o600
    assert fault.returncode == 0, fault.stderr
    assert bad.returncode == 1 and "nosuch" in bad.stderr
    assert status["rtr001"]["oper_down"] == [1]
    first = reply.find(".//if:interface", NS)
    assert first is not None and first.findtext("if:oper-status", namespaces=NS) == "down"
    assert reply.findtext(".//al:alarm/al:alarm-type-id", namespaces=NS) == "lab:link-down"
    names = {n.text for n in reply.iterfind(".//lldp:system-name", NS)}
    assert names == {remote for remote, _ in topo.neighbours("rtr001").values()}
    assert len(names) == 2  # a ring
    saved = json.loads((tmp_path / "netconf-inventory.json").read_text())
    assert saved["profiles"][0]["password"] == profile["password"]
    assert len(profile["password"]) >= 16
    assert stat.S_IMODE(os.stat(tmp_path / "netconf-inventory.json").st_mode) == 0o600
    assert PASSWORD not in fleet.log_tail(tmp_path)
    assert profile["password"] not in fleet.log_tail(tmp_path)


@pytest.mark.timeout(30)
async def test_control_channel_refuses_bad_requests(sim: NetconfSimulator, tmp_path: Path) -> None:
    server = ControlServer(sim, tmp_path)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(server.path), limit=1 << 20)
        replies = []
        for line in (
            b'{"cmd": "reboot-the-world"}',
            b'{"cmd": "if_down", "device": "rtr001"}',
            b'{"cmd": "if_down", "device": "rtr001", "ifindex": 99}',
            b'{"cmd": "slow", "device": "rtr001", "ms": 5, "evil": 1}',
            b"not json",
            b'{"cmd": "if_down", "device": "rtr001", "ifindex": 2}',
            b"x" * (MAX_LINE + 10),
        ):
            writer.write(line + b"\n")
            replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
        eof = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        await server.close()
    assert [r["ok"] for r in replies] == [False, False, False, False, False, True, False]
    assert "unknown command" in replies[0]["error"]
    assert "ifindex" in replies[1]["error"]
    assert "no ifIndex 99" in replies[2]["error"]
    assert replies[6]["error"] == "line too long"
    assert eof == b""  # connection closed after an oversized line
    assert sim.devices["rtr001"].model.oper_down() == [2]
    assert not server.path.exists()
