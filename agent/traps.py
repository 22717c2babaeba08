"""SNMP trap/inform receiver: one UDP socket, a fast v1/v2c path, pysnmp's USM for v3.

v1/v2c datagrams are decoded by shared.ber (pysnmp's full notification pipeline costs
15-20x more CPU per trap and knees at 1-2k traps/s). v3 datagrams go to a pysnmp
SnmpEngine whose asyncio transport *is* our socket: the transport subclass below takes
every datagram first and feeds only v3 ones to pysnmp, synchronously, so we know right
after the call whether pysnmp delivered a notification or silently dropped the message.
Nothing outside this module sees a pysnmp object.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902, rfc3411

from agent.aiotools import with_deadline
from shared.ber import (
    PDU_INFORM,
    VERSION_V1,
    VERSION_V2C,
    VERSION_V3,
    Oid,
    Value,
    decode_message,
    decode_v3_header,
    encode_response,
    peek_version,
)
from shared.errors import BerDecodeError, ConfigError
from shared.model import CredentialProfile

log = logging.getLogger(__name__)

DEFAULT_MAX_DATAGRAM = 16 * 1024
DEFAULT_RCVBUF = 4 * 1024 * 1024
WARN_INTERVAL = 60.0  # seconds between warnings about the same source
LEARN_INTERVAL = 1.0  # seconds between attempts to learn one source's v3 engine ID
_WARN_TABLE_MAX = 4096
_USM_SECURITY_MODEL = 3

_AUTH = {
    "none": config.USM_AUTH_NONE,
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    "none": config.USM_PRIV_NONE,
    "des": config.USM_PRIV_CBC56_DES,
    "aes": config.USM_PRIV_CFB128_AES,
    "aes128": config.USM_PRIV_CFB128_AES,
    "aes192": config.USM_PRIV_CFB192_AES,
    "aes256": config.USM_PRIV_CFB256_AES,
}

COUNTER_NAMES = (
    "received",
    "accepted",
    "unknown_source",
    "bad_community",
    "bad_v3",
    "malformed",
    "oversized",
    "informs_answered",
    "callback_errors",
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One accepted trap or inform, varbinds in the SNMPv2 form (v1 converted per RFC 3584)."""

    ne: str
    source: tuple[str, int]
    version: str  # "1", "2c" or "3"
    trap_oid: Oid
    uptime: int | None
    varbinds: tuple[tuple[Oid, Value], ...]
    received: float


@dataclass(frozen=True, slots=True)
class TrapSource:
    """Who may send from one address. engine_id pins the NE's v3 engine ID; when None the
    first authenticated-looking v3 message from that address teaches it (once)."""

    ne: str
    profile: CredentialProfile
    engine_id: bytes | None = None


SourceSpec = TrapSource | tuple[str, CredentialProfile]
NotificationCallback = Callable[[Notification], None]


def _normalise(address: str, spec: SourceSpec) -> TrapSource:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"trap source {address!r} is not an IP address") from None
    source = spec if isinstance(spec, TrapSource) else TrapSource(spec[0], spec[1])
    profile = source.profile
    if profile.user and (profile.auth_protocol not in _AUTH or profile.priv_protocol not in _PRIV):
        raise ConfigError(f"profile {profile.name!r}: unsupported v3 protocols")
    return source


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a big receive buffer and return what the kernel granted.

    It absorbs trap storms (a fibre cut, a shelf rebooting) while the loop is busy.
    SO_RCVBUF is capped by net.core.rmem_max; SO_RCVBUFFORCE passes the cap when we have
    CAP_NET_ADMIN (the agent as root or with that capability).
    """
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return granted


def _required_level(profile: CredentialProfile) -> int:
    """USM securityLevel a message must have: 1 noAuthNoPriv, 2 authNoPriv, 3 authPriv."""
    if profile.priv_protocol != "none":
        return 3
    if profile.auth_protocol != "none":
        return 2
    return 1


def _flags_level(flags: int) -> int:
    """securityLevel from msgFlags (bit 0 auth, bit 1 priv)."""
    if flags & 0x02:
        return 3
    return 2 if flags & 0x01 else 1


def _from_pysnmp(value: Any) -> Value:
    """Map one pysnmp/pyasn1 value onto the plain types shared.ber produces."""
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return tuple(value)
    if isinstance(value, univ.OctetString):  # also Opaque
        return bytes(value.asOctets())
    if isinstance(value, univ.Integer):  # Integer32, Counter32/64, Gauge32, TimeTicks
        return int(value)
    return None  # Null, noSuchObject, noSuchInstance, endOfMibView


class _Engine(enum.Enum):
    OK = "ok"
    BAD = "bad"
    LEARN = "learn"


class _SharedUdpTransport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """pysnmp's asyncio UDP transport, but every datagram passes through the receiver first."""

    def __init__(self, receiver: TrapReceiver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._receiver = receiver
        self.lost = loop.create_future()

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self._receiver._datagram_received(datagram, transportAddress)

    def to_pysnmp(self, datagram: bytes, address: tuple[str, int]) -> None:
        # Synchronous on purpose (the base class defers with call_soon): the receiver
        # inspects the outcome right after this returns.
        callback = self._callback_function
        if callback is not None:
            callback(self, udp.UdpTransportAddress(address), datagram)

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, address)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors after answering an inform whose sender has gone: not our problem.
        log.debug("trap socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class TrapReceiver:
    """Receives traps/informs on one UDP socket and passes accepted ones to a callback."""

    def __init__(
        self,
        on_notification: NotificationCallback,
        host: str = "0.0.0.0",
        port: int = 162,
        *,
        max_datagram: int = DEFAULT_MAX_DATAGRAM,
        rcvbuf: int = DEFAULT_RCVBUF,
        engine_id: bytes | None = None,
    ) -> None:
        self._on_notification = on_notification
        self._bind = (host, port)
        self._max_datagram = max_datagram
        self._rcvbuf = rcvbuf
        self._engine_id_wanted = engine_id
        self._sources: dict[str, TrapSource] = {}
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._warned: dict[str, float] = {}
        self._engine: Any = None
        self._ntfrcv: Any = None
        self._transport: _SharedUdpTransport | None = None
        self._address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self.receive_buffer = 0  # bytes the kernel granted (it reports twice the payload room)
        self._engine_id = b""
        # v3 state: engine IDs learned per source, and which (engine id, user) rows the USM
        # holds with which profile (so a changed key re-registers the user).
        self._learned: dict[str, bytes] = {}
        self._usm_rows: dict[tuple[bytes, bytes], CredentialProfile] = {}
        self._learn_tried: dict[str, float] = {}
        self._v3_current: tuple[str, TrapSource] | None = None
        self._v3_delivered = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when 0 was asked for."""
        if self._address is None:
            raise RuntimeError("receiver not started")
        return self._address

    @property
    def engine_id(self) -> bytes:
        """Our SNMP engine ID: the authoritative one for v3 informs sent to us."""
        return self._engine_id

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.receive_buffer = set_receive_buffer(sock, self._rcvbuf)
            sock.bind(self._bind)
            sock.setblocking(False)
            self._address = sock.getsockname()[:2]
            if self._engine_id_wanted is not None:
                snmp_engine = engine.SnmpEngine(
                    snmpEngineID=rfc1902.OctetString(self._engine_id_wanted)
                )
            else:
                snmp_engine = engine.SnmpEngine()
            self._engine = snmp_engine
            self._engine_id = bytes(snmp_engine.snmpEngineID.asOctets())
            transport = _SharedUdpTransport(self, loop)
            self._transport = transport
            config.add_transport(
                snmp_engine, udp.DOMAIN_NAME, transport.open_server_mode(sock=sock)
            )
            self._sock, sock = sock, None  # type: ignore[assignment]  # ours until closed
            self._ntfrcv = ntfrcv.NotificationReceiver(snmp_engine, self._on_v3_notification)
            await transport._lport
            self._sync_usm()
        except BaseException:
            if sock is not None:
                sock.close()
            await self.close()
            raise
        log.info("trap receiver listening on %s:%d", *self._address)

    async def close(self) -> None:
        """Release the socket and the SNMP engine; safe to call twice or after a failed start."""
        transport, self._transport = self._transport, None
        snmp_engine, self._engine = self._engine, None
        if snmp_engine is not None:
            if self._ntfrcv is not None:
                self._ntfrcv.close(snmp_engine)
                self._ntfrcv = None
            # Closes the registered transport (and its socket) and the dispatcher's timer.
            snmp_engine.close_dispatcher()
        if transport is not None:
            if transport._lport is not None and not transport._lport.done():
                transport._lport.cancel()
            if transport.transport is not None:
                transport.transport.close()
                # asyncio closes the socket one loop turn later (even if we are cancelled
                # right here); wait so a caller can rebind the port as soon as we return.
                try:
                    await with_deadline(asyncio.shield(transport.lost), 2.0)
                except TimeoutError:
                    log.warning("trap socket did not report closing within 2 s")
        sock, self._sock = self._sock, None
        if (
            sock is not None
            and sock.fileno() != -1
            and (transport is None or transport.transport is None)
        ):
            # start() was cancelled before asyncio adopted the socket.
            sock.close()
        self._usm_rows.clear()

    async def serve(self) -> None:
        """Start, run until cancelled, then close (for a TaskGroup)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.close())

    async def __aenter__(self) -> TrapReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ sources

    def set_sources(self, sources: Mapping[str, SourceSpec]) -> None:
        """Replace who may send: source IP -> (NE name, profile) or TrapSource."""
        new = {addr: _normalise(addr, spec) for addr, spec in sources.items()}
        old = self._sources
        self._learned = {
            addr: eid for addr, eid in self._learned.items() if old.get(addr) == new.get(addr)
        }
        self._sources = new
        self._warned.clear()
        self._learn_tried.clear()
        if self._engine is not None:
            self._sync_usm()

    def _desired_usm_rows(self) -> dict[tuple[bytes, bytes], CredentialProfile]:
        rows: dict[tuple[bytes, bytes], CredentialProfile] = {}
        for addr, source in self._sources.items():
            profile = source.profile
            if not profile.user:
                continue
            user = profile.user.encode()
            ours = (self._engine_id, user)
            if ours in rows and rows[ours] != profile:
                # Informs are keyed by our engine ID, so one user name has one key set.
                log.warning(
                    "v3 user %r has different keys on several NEs; informs from "
                    "all but one will fail",
                    profile.user,
                )
            rows[ours] = profile
            their = source.engine_id or self._learned.get(addr)
            if their is not None:
                rows[(their, user)] = profile
        return rows

    def _sync_usm(self) -> None:
        desired = self._desired_usm_rows()
        for key, profile in list(self._usm_rows.items()):
            if desired.get(key) != profile:
                config.delete_v3_user(self._engine, key[1], securityEngineId=key[0])
                del self._usm_rows[key]
        for key, profile in desired.items():
            if key not in self._usm_rows:
                self._add_usm_row(key, profile)

    def _add_usm_row(self, key: tuple[bytes, bytes], profile: CredentialProfile) -> None:
        engine_id, user = key
        auth = _AUTH[profile.auth_protocol]
        priv = _PRIV[profile.priv_protocol]
        config.add_v3_user(
            self._engine,
            user,
            auth,
            profile.auth_key.encode() if auth != config.USM_AUTH_NONE else None,
            priv,
            profile.priv_key.encode() if priv != config.USM_PRIV_NONE else None,
            securityEngineId=rfc1902.OctetString(engine_id),
        )
        self._usm_rows[key] = profile

    # ------------------------------------------------------------------ receive path

    def _count(self, name: str, address: tuple[str, int], why: str) -> None:
        self.counters[name] += 1
        now = time.monotonic()
        last = self._warned.get(address[0])
        if last is not None and now - last < WARN_INTERVAL:
            return
        if len(self._warned) >= _WARN_TABLE_MAX:
            self._warned.clear()
        self._warned[address[0]] = now
        # Never the community, user keys or payload: only who and why.
        log.warning("dropped notification from %s:%d: %s", address[0], address[1], why)

    def _datagram_received(self, data: bytes, address: tuple[str, int]) -> None:
        counters = self.counters
        counters["received"] += 1
        if len(data) > self._max_datagram:
            self._count("oversized", address, f"{len(data)} bytes")
            return
        source = self._sources.get(address[0])
        if source is None:
            self._count("unknown_source", address, "unknown source address")
            return
        version = peek_version(data)
        if version in (VERSION_V1, VERSION_V2C):
            self._community_path(data, address, source)
        elif version == VERSION_V3:
            self._v3_path(data, address, source)
        else:
            self._count("malformed", address, "not an SNMP v1/v2c/v3 message")

    def _community_path(self, data: bytes, address: tuple[str, int], source: TrapSource) -> None:
        try:
            message = decode_message(data)
        except BerDecodeError as exc:
            self._count("malformed", address, str(exc))
            return
        community = source.profile.community
        if not community or not hmac.compare_digest(message.community, community.encode()):
            self._count("bad_community", address, "wrong community")
            return
        if message.pdu_type == PDU_INFORM and self._transport is not None:
            self._transport.sendto(encode_response(message), address)
            self.counters["informs_answered"] += 1
        self._deliver(
            Notification(
                ne=source.ne,
                source=(address[0], address[1]),
                version="1" if message.version == VERSION_V1 else "2c",
                trap_oid=message.trap_oid,
                uptime=message.uptime,
                varbinds=message.varbinds,
                received=time.time(),
            )
        )

    def _deliver(self, notification: Notification) -> None:
        self.counters["accepted"] += 1
        try:
            self._on_notification(notification)
        except Exception:
            self.counters["callback_errors"] += 1
            log.exception("notification callback failed for %s", notification.ne)

    def _v3_path(self, data: bytes, address: tuple[str, int], source: TrapSource) -> None:
        try:
            header = decode_v3_header(data)
        except BerDecodeError as exc:
            self._count("malformed", address, str(exc))
            return
        profile = source.profile
        if not profile.user or header.security_model != _USM_SECURITY_MODEL:
            self._count("bad_v3", address, "no v3 user for this NE")
            return
        discovery = not header.engine_id and not header.user and header.reportable
        tentative: tuple[bytes, bytes] | None = None
        if not discovery:
            # Checked before pysnmp so a user name or level that is not this NE's never
            # reaches the shared USM table (and costs no crypto).
            if not hmac.compare_digest(header.user, profile.user.encode()):
                self._count("bad_v3", address, "unknown v3 user")
                return
            if _flags_level(header.flags) < _required_level(profile):
                self._count("bad_v3", address, "v3 security level too low")
                return
            if header.engine_id != self._engine_id:
                verdict = self._engine_verdict(address[0], source, header.engine_id)
                if verdict is _Engine.BAD:
                    self._count("bad_v3", address, "unexpected v3 engine ID")
                    return
                if verdict is _Engine.LEARN:
                    tentative = (header.engine_id, profile.user.encode())
                    self._add_usm_row(tentative, profile)
        if self._transport is None:
            return
        self._v3_current = (address[0], source)
        self._v3_delivered = False
        try:
            self._transport.to_pysnmp(data, address)
        except Exception as exc:  # pysnmp raises many kinds on hostile input
            log.debug("pysnmp rejected a v3 message: %s", type(exc).__name__)
        finally:
            self._v3_current = None
        if tentative is not None:
            # Learn the NE's engine ID only from a message its keys authenticated, so a
            # spoofed first message cannot lock the real NE out.
            if self._v3_delivered:
                self._learned[address[0]] = tentative[0]
            elif tentative in self._usm_rows:
                config.delete_v3_user(self._engine, tentative[1], securityEngineId=tentative[0])
                del self._usm_rows[tentative]
        if not self._v3_delivered and not discovery:
            self._count("bad_v3", address, "v3 authentication/decryption failed")

    def _engine_verdict(self, addr: str, source: TrapSource, engine_id: bytes) -> _Engine:
        """May a trap claiming this authoritative engine ID come from addr?"""
        if source.engine_id is not None:
            return _Engine.OK if hmac.compare_digest(engine_id, source.engine_id) else _Engine.BAD
        learned = self._learned.get(addr)
        if learned is not None:
            return _Engine.OK if engine_id == learned else _Engine.BAD
        if not 5 <= len(engine_id) <= 32:
            return _Engine.BAD
        # Another NE's engine ID would overwrite that NE's USM row with these keys.
        if any(key[0] == engine_id for key in self._usm_rows):
            return _Engine.BAD
        # Localising keys costs milliseconds: bound how often a source can make us try.
        now = time.monotonic()
        if now - self._learn_tried.get(addr, -LEARN_INTERVAL) < LEARN_INTERVAL:
            return _Engine.BAD
        if len(self._learn_tried) >= _WARN_TABLE_MAX:
            self._learn_tried.clear()
        self._learn_tried[addr] = now
        return _Engine.LEARN

    def _on_v3_notification(
        self,
        snmp_engine: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        var_binds: Any,
        cb_ctx: Any,
    ) -> None:
        current = self._v3_current
        if current is None:
            return
        addr, source = current
        ctx = snmp_engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        security_name = bytes(ctx.get("securityName", b"")) if ctx else b""
        level = int(ctx.get("securityLevel", 0)) if ctx else 0
        if security_name != source.profile.user.encode() or level < _required_level(source.profile):
            return
        varbinds = tuple((tuple(oid), _from_pysnmp(val)) for oid, val in var_binds)
        trap_oid: Oid = ()
        uptime: int | None = None
        for oid, val in varbinds:
            if oid == (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0) and isinstance(val, tuple):
                trap_oid = val
            elif oid == (1, 3, 6, 1, 2, 1, 1, 3, 0) and isinstance(val, int):
                uptime = val
        self._v3_delivered = True
        pdu = ctx.get("pdu") if ctx else None
        if pdu is not None and pdu.tagSet in rfc3411.CONFIRMED_CLASS_PDUS:
            self.counters["informs_answered"] += 1
        port = int(ctx["transportAddress"][1]) if ctx else 0
        self._deliver(
            Notification(
                ne=source.ne,
                source=(addr, port),
                version="3",
                trap_oid=trap_oid,
                uptime=uptime,
                varbinds=varbinds,
                received=time.time(),
            )
        )


__all__ = [
    "COUNTER_NAMES",
    "Notification",
    "NotificationCallback",
    "SourceSpec",
    "TrapReceiver",
    "TrapSource",
    "Value",
]
