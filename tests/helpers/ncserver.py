"""A small NETCONF-over-SSH server for adapter tests (asyncssh; base 1.0 and 1.1 framing,
RFC 5277 notifications, fault modes). The lab simulator (lab/netconf) is the real thing;
this one is deliberately minimal and lives beside the tests."""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import asyncssh

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
AL = "urn:ietf:params:xml:ns:yang:ietf-alarms"
LLDP = "http://openconfig.net/yang/lldp"
CAPS = [
    "urn:ietf:params:netconf:base:1.0",
    "urn:ietf:params:netconf:base:1.1",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
    # What real servers also send: the ietf-netconf module, whose namespace says "base".
    "urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&revision=2011-06-01",
    f"{IF}?module=ietf-interfaces",
    f"{SYS}?module=ietf-system",
    f"{AL}?module=ietf-alarms",
    f"{LLDP}?module=openconfig-lldp",
]
EVENT_TIME = "2024-05-01T10:00:00Z"


@dataclass
class DevAlarm:
    resource: str
    type_id: str
    severity: str
    text: str
    cleared: bool = False


@dataclass
class _Peer:
    proc: asyncssh.SSHServerProcess[bytes]
    base11: bool = False
    subscribed: bool = False

    def write(self, xml: str) -> None:
        data = xml.encode()
        if self.base11:
            self.proc.stdout.write(b"\n#%d\n%s\n##\n" % (len(data), data))
        else:
            self.proc.stdout.write(data + b"]]>]]>")


@dataclass
class NcServer:
    hostname: str = "rtr001"
    ports: int = 24
    user: str = "emsnc"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    mode: str = "normal"  # normal | hang | laughs | xxe:<path> | deep | huge
    boot: str = "2024-05-01T09:00:00Z"
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    client_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    auth_attempts: int = 0
    rpcs: int = 0
    port: int = 0
    oper: dict[str, bool] = field(default_factory=dict)
    alarms: list[DevAlarm] = field(default_factory=list)
    peers: list[_Peer] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i in range(1, self.ports + 1):
            self.oper[f"ge-0/0/{i}"] = i <= self.ports // 2
        self._server: asyncssh.SSHAcceptor | None = None

    @property
    def host_key_line(self) -> str:
        return (
            self.host_key.export_public_key().decode().split()[0]
            + " "
            + self.host_key.export_public_key().decode().split()[1]
        )

    async def start(self) -> NcServer:
        owner = self

        class _Auth(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                owner.auth_attempts += 1
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == owner.user and password == owner.password

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return username == owner.user and key.public_data == owner.client_key.public_data

        self._server = await asyncssh.create_server(
            _Auth,
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            process_factory=self._session,
            encoding=None,
            line_editor=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.drop_sessions()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_sessions(self) -> None:
        for p in list(self.peers):
            p.proc.close()
        self.peers.clear()

    # -- faults -------------------------------------------------------------------
    def set_link(self, name: str, up: bool) -> None:
        self.oper[name] = up
        idx = int(name.rsplit("/", 1)[1])
        self.notify(
            f'<interface-state-change xmlns="urn:emspool:lab:notifications"><name>{name}</name>'
            f"<if-index>{idx}</if-index><oper-status>{'up' if up else 'down'}</oper-status>"
            "</interface-state-change>"
        )

    def raise_alarm(self, resource: str, type_id: str, severity: str, text: str) -> None:
        self.alarms = [a for a in self.alarms if (a.resource, a.type_id) != (resource, type_id)]
        self.alarms.append(DevAlarm(resource, type_id, severity, text))
        self.notify(self._alarm_notif(resource, type_id, severity, text))

    def clear_alarm(self, resource: str, type_id: str) -> None:
        for a in self.alarms:
            if (a.resource, a.type_id) == (resource, type_id):
                a.cleared = True
        self.notify(self._alarm_notif(resource, type_id, "cleared", ""))

    @staticmethod
    def _alarm_notif(resource: str, type_id: str, severity: str, text: str) -> str:
        return (
            f'<alarm-notification xmlns="{AL}" xmlns:lab="urn:emspool:lab:alarms">'
            f"<resource>{resource}</resource><alarm-type-id>{type_id}</alarm-type-id>"
            f"<alarm-type-qualifier/><time>{EVENT_TIME}</time>"
            f"<perceived-severity>{severity}</perceived-severity><alarm-text>{text}</alarm-text>"
            "</alarm-notification>"
        )

    def notify(self, body: str) -> None:
        self.push_raw(
            f'<notification xmlns="{NOTIF}"><eventTime>{EVENT_TIME}</eventTime>{body}</notification>'
        )

    def push_raw(self, xml: str) -> None:
        for p in self.peers:
            if p.subscribed:
                p.write(xml)

    # -- protocol -----------------------------------------------------------------
    async def _session(self, proc: asyncssh.SSHServerProcess[bytes]) -> None:
        if proc.subsystem != "netconf":
            proc.exit(1)
            return
        peer = _Peer(proc)
        self.peers.append(peer)
        caps = "".join(f"<capability>{escape(c)}</capability>" for c in CAPS)
        peer.write(
            f'<hello xmlns="{BASE}"><capabilities>{caps}</capabilities><session-id>{len(self.peers)}</session-id></hello>'
        )
        buf = b""
        try:
            while True:
                chunk = await proc.stdin.read(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    msg, buf = _take(buf, peer.base11)
                    if msg is None:
                        break
                    self._handle(peer, msg)
        except (asyncssh.Error, OSError, asyncio.CancelledError):
            pass
        finally:
            if peer in self.peers:
                self.peers.remove(peer)
            proc.close()

    def _handle(self, peer: _Peer, msg: bytes) -> None:
        root = ET.fromstring(msg)
        if root.tag == f"{{{BASE}}}hello":
            caps = [c.text for c in root.iter(f"{{{BASE}}}capability")]
            peer.base11 = "urn:ietf:params:netconf:base:1.1" in caps
            return
        self.rpcs += 1
        mid = root.get("message-id", "")
        op = root[0].tag.split("}")[1] if len(root) else ""
        if self.mode == "hang":
            return
        head = f'<rpc-reply xmlns="{BASE}" message-id="{mid}">'
        if op == "get" and self.mode == "huge":
            self._streaming = asyncio.get_running_loop().create_task(self._stream_huge(peer, head))
        elif op == "get":
            hostile = self._hostile(mid)
            peer.write(hostile or head + f"<data>{self._data()}</data></rpc-reply>")
        elif op == "get-config":
            peer.write(head + f"<data>{self._config()}</data></rpc-reply>")
        elif op == "create-subscription":
            peer.subscribed = True
            peer.write(head + "<ok/></rpc-reply>")
        elif op == "close-session":
            peer.write(head + "<ok/></rpc-reply>")
            peer.proc.close()
        else:
            peer.write(
                head
                + "<rpc-error><error-type>protocol</error-type><error-tag>operation-not-supported</error-tag>"
                "<error-severity>error</error-severity><error-message>not here</error-message></rpc-error></rpc-reply>"
            )

    def _hostile(self, mid: str) -> str | None:
        head = f'<rpc-reply xmlns="{BASE}" message-id="{mid}">'
        if self.mode == "laughs":
            ents = '<!ENTITY l0 "lol">' + "".join(
                f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
            )
            return f'<?xml version="1.0"?><!DOCTYPE rpc-reply [{ents}]>{head}<data>&l9;</data></rpc-reply>'
        if self.mode.startswith("xxe:"):
            path = self.mode[4:]
            return f'<?xml version="1.0"?><!DOCTYPE rpc-reply [<!ENTITY x SYSTEM "file://{path}">]>{head}<data>&x;</data></rpc-reply>'
        if self.mode == "deep":
            return head + "<data>" + "<a>" * 100_000 + "</a>" * 100_000 + "</data></rpc-reply>"
        return None

    async def _stream_huge(self, peer: _Peer, head: str) -> None:
        """64 MiB in 1 MiB chunks, written with back-pressure so this process stays small."""
        block = b"A" * (1024 * 1024)
        try:
            parts = [(head + "<data><x>").encode()] + [block] * 64 + [b"</x></data></rpc-reply>"]
            for part in parts:
                peer.proc.stdout.write(b"\n#%d\n%s" % (len(part), part) if peer.base11 else part)
                await peer.proc.stdout.drain()
            peer.proc.stdout.write(b"\n##\n" if peer.base11 else b"]]>]]>")
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass

    def _data(self) -> str:
        itfs = []
        for i, (name, up) in enumerate(self.oper.items(), start=1):
            admin = "up" if i <= self.ports // 2 else "down"
            itfs.append(
                f'<interface><name>{name}</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
                f"<enabled>{'true' if admin == 'up' else 'false'}</enabled><admin-status>{admin}</admin-status>"
                f"<oper-status>{'up' if up else 'down'}</oper-status><if-index>{i}</if-index><speed>1000000000</speed>"
                f"<statistics><in-octets>{i * 1000}</in-octets><out-octets>{i * 2000}</out-octets><in-errors>0</in-errors>"
                f"<out-errors>0</out-errors><discontinuity-time>{self.boot}</discontinuity-time></statistics></interface>"
            )
        alarms = "".join(
            f'<alarm><resource>{a.resource}</resource><alarm-type-id xmlns:lab="urn:emspool:lab:alarms">{a.type_id}</alarm-type-id>'
            f"<alarm-type-qualifier/><time-created>{EVENT_TIME}</time-created><is-cleared>{str(a.cleared).lower()}</is-cleared>"
            f"<perceived-severity>{a.severity}</perceived-severity><alarm-text>{a.text}</alarm-text></alarm>"
            for a in self.alarms
        )
        return (
            f'<interfaces xmlns="{IF}">{"".join(itfs)}</interfaces>'
            f'<system xmlns="{SYS}"><hostname>{self.hostname}</hostname></system>'
            f'<system-state xmlns="{SYS}"><platform><os-name>LabOS</os-name><os-release>1.0</os-release></platform>'
            f"<clock><current-datetime>2024-05-01T10:00:00Z</current-datetime><boot-datetime>{self.boot}</boot-datetime></clock></system-state>"
            f'<alarms xmlns="{AL}"><alarm-list><number-of-alarms>{len(self.alarms)}</number-of-alarms>{alarms}</alarm-list></alarms>'
            f'<lldp xmlns="{LLDP}"><interfaces><interface><name>ge-0/0/1</name><neighbors><neighbor><id>1</id>'
            "<state><system-name>rtr002</system-name><port-id>ge-0/0/2</port-id><chassis-id>02:00:00:00:00:02</chassis-id></state>"
            "</neighbor></neighbors></interface></interfaces></lldp>"
        )

    def _config(self) -> str:
        itfs = "".join(
            f"<interface><name>{n}</name><enabled>true</enabled><description>port {n}</description></interface>"
            for n in self.oper
        )
        return f'<interfaces xmlns="{IF}">{itfs}</interfaces><system xmlns="{SYS}"><hostname>{self.hostname}</hostname></system>'


def _take(buf: bytes, base11: bool) -> tuple[bytes | None, bytes]:
    """One complete message off the front of buf, or (None, buf)."""
    if not base11:
        end = buf.find(b"]]>]]>")
        return (None, buf) if end < 0 else (buf[:end], buf[end + 6 :])
    out, pos = b"", 0
    while True:
        if buf[pos : pos + 4] == b"\n##\n":
            return out, buf[pos + 4 :]
        if buf[pos : pos + 2] != b"\n#":
            if len(buf) - pos < 2:
                return None, buf
            raise ValueError("bad chunk framing")
        nl = buf.find(b"\n", pos + 2)
        if nl < 0:
            return None, buf
        if buf[pos + 2 : nl] == b"#":
            return out, buf[nl + 1 :]
        size = int(buf[pos + 2 : nl])
        if len(buf) < nl + 1 + size:
            return None, buf
        out += buf[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size
