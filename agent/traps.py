"""SNMP trap/inform receiver: one UDP socket, our own decoding for every version.

v1/v2c datagrams are decoded by shared.ber, v3 ones by shared.usm with the USM the polls
use (agent/trapv3.py): pysnmp's notification pipeline cost 15-20x more CPU per trap and
knees at 1-2k traps/s. Nothing here imports pysnmp.

Sources are matched by address AND credentials: several NEs may share an address (a
chassis with two management agents, NAT), told apart by community (v1/v2c) or by v3 user
and authoritative engine ID. A pair that nothing tells apart is warned about when it is
set up, and what then cannot be attributed is counted ("ambiguous_source") and dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.trapv3 import LocalEngine, NotificationUsm, V3Source, new_engine_id
from shared.ber import (
    PDU_INFORM,
    VERSION_V1,
    VERSION_V2C,
    VERSION_V3,
    Oid,
    Value,
    decode_message,
    encode_response,
    peek_version,
)
from shared.errors import BerDecodeError, ConfigError
from shared.model import CredentialProfile, SnmpVersion

log = logging.getLogger(__name__)

DEFAULT_MAX_DATAGRAM = 16 * 1024
DEFAULT_RCVBUF = 4 * 1024 * 1024
WARN_INTERVAL = 60.0  # seconds between warnings about the same source
_WARN_TABLE_MAX = 4096
_RECV_BATCH = 64  # datagrams read per readable event before other callbacks get the loop

COUNTER_NAMES = (
    "received",
    "accepted",
    "unknown_source",
    "bad_community",
    "bad_v3",
    "malformed",
    "oversized",
    "ambiguous_source",
    "not_in_time_window",
    "engines_learned",
    "reports_sent",
    "informs_answered",
    "send_errors",
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
    context: bytes = b""  # SNMPv3 context name


@dataclass(frozen=True, slots=True)
class TrapSource:
    """One NE that may send from an address. ``engine_id`` pins its v3 engine ID (only that
    one is accepted); ``learned`` is what an authenticated trap taught before (kept by the
    caller, e.g. in the database); with neither, its first authenticated trap teaches it."""

    ne: str
    profile: CredentialProfile
    engine_id: bytes | None = None
    learned: bytes | None = None


SourceSpec = TrapSource | tuple[str, CredentialProfile]
NotificationCallback = Callable[[Notification], None]
EngineCallback = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class _Address:
    """Everything that may send from one address, prepared for the receive path."""

    community: tuple[tuple[bytes, TrapSource], ...]
    v3: tuple[V3Source, ...]


def _normalise(address: str, spec: SourceSpec) -> TrapSource:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"trap source {address!r} is not an IP address") from None
    return spec if isinstance(spec, TrapSource) else TrapSource(spec[0], spec[1])


def _is_v3(profile: CredentialProfile) -> bool:
    return profile.version is SnmpVersion.V3


def ambiguous_pairs(
    sources: Mapping[str, Sequence[TrapSource]],
) -> list[tuple[str, str, str, str]]:
    """(address, NE, NE, why) for each pair of sources nothing tells apart."""
    found: list[tuple[str, str, str, str]] = []
    for address, listed in sources.items():
        for i, a in enumerate(listed):
            for b in listed[i + 1 :]:
                pa, pb = a.profile, b.profile
                if not _is_v3(pa) and not _is_v3(pb) and pa.community == pb.community:
                    found.append((address, a.ne, b.ne, "the same community"))
                elif _is_v3(pa) and _is_v3(pb) and pa.user == pb.user:
                    ea, eb = a.engine_id or a.learned, b.engine_id or b.learned
                    if ea is None or eb is None or ea == eb:
                        found.append((address, a.ne, b.ne, f"v3 user {pa.user!r} and no engine ID"))
    return found


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
        engine: LocalEngine | None = None,
        on_engine_learned: EngineCallback | None = None,
    ) -> None:
        self._on_notification = on_notification
        self._bind = (host, port)
        self._max_datagram = max_datagram
        self._rcvbuf = rcvbuf
        if engine is None:
            engine = LocalEngine(engine_id or new_engine_id(), 1)
        self._sources: dict[str, _Address] = {}
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.ambiguous: list[tuple[str, str, str, str]] = []
        self._warned: dict[str, float] = {}
        self._address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.receive_buffer = 0  # bytes the kernel granted (it reports twice the payload room)
        self.usm = NotificationUsm(
            engine, self._sendto, self._count, self.counters, on_engine_learned
        )

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
        return self.usm.engine_id

    @property
    def engine_boots(self) -> int:
        return self.usm.boots

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.receive_buffer = set_receive_buffer(sock, self._rcvbuf)
            sock.bind(self._bind)
            sock.setblocking(False)
            self._address = sock.getsockname()[:2]
            loop.add_reader(sock.fileno(), self._on_readable, sock)
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop = sock, loop
        log.info(
            "trap receiver listening on %s:%d (SNMP engine ID %s, boots %d)",
            *self._address,
            self.engine_id.hex(),
            self.engine_boots,
        )

    async def close(self) -> None:
        """Release the socket; safe to call twice or after a failed start."""
        sock, self._sock = self._sock, None
        if sock is not None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.remove_reader(sock.fileno())
            sock.close()
        self.usm.keys.clear()

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

    def set_sources(self, sources: Mapping[str, SourceSpec | Sequence[SourceSpec]]) -> None:
        """Replace who may send: source IP -> one or several (NE name, profile) or
        TrapSource. Keys, learnt engine IDs and clocks of what is gone are dropped."""
        listed: dict[str, tuple[TrapSource, ...]] = {}
        for addr, spec in sources.items():
            listed[addr] = tuple(_normalise(addr, s) for s in _specs(spec))
        prepared: dict[str, _Address] = {}
        v3_all: list[V3Source] = []
        for addr, items in listed.items():
            community = tuple(
                (t.profile.community.encode(), t)
                for t in items
                if not _is_v3(t.profile) and t.profile.community
            )
            v3 = tuple(
                v
                for t in items
                if _is_v3(t.profile)
                and (v := V3Source.of(t.ne, t.profile, t.engine_id, t.learned)) is not None
            )
            prepared[addr] = _Address(community, v3)
            v3_all += v3
        before = set(self.ambiguous)
        self.ambiguous = ambiguous_pairs(listed)
        for address, a, b, why in self.ambiguous:
            if (address, a, b, why) not in before:
                log.warning(
                    "NEs %s and %s share address %s and %s: their traps cannot always be "
                    "told apart (pin an engine ID, or use different credentials)",
                    a,
                    b,
                    address,
                    why,
                )
        self._sources = prepared
        self._warned.clear()
        self.usm.set_sources(v3_all)

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

    def _sendto(self, data: bytes, address: tuple[str, int]) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, address)
        except OSError:  # a full buffer, or ICMP from a sender that has gone
            self.counters["send_errors"] += 1

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(_RECV_BATCH):
            try:
                data, address = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. ECONNREFUSED after answering an inform whose sender went
            self._datagram_received(data, address)
            if self._sock is None:  # closed by a callback
                return

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

    def _community_path(self, data: bytes, address: tuple[str, int], source: _Address) -> None:
        try:
            message = decode_message(data)
        except BerDecodeError as exc:
            self._count("malformed", address, str(exc))
            return
        # Every candidate is compared (constant time each), so timing tells nothing either.
        fits = [t for c, t in source.community if hmac.compare_digest(message.community, c)]
        if not fits:
            self._count("bad_community", address, "wrong community")
            return
        if len(fits) > 1:
            self._count("ambiguous_source", address, "community shared by several NEs")
            return
        if message.pdu_type == PDU_INFORM:
            self._sendto(encode_response(message), address)
            self.counters["informs_answered"] += 1
        self._deliver(
            Notification(
                ne=fits[0].ne,
                source=(address[0], address[1]),
                version="1" if message.version == VERSION_V1 else "2c",
                trap_oid=message.trap_oid,
                uptime=message.uptime,
                varbinds=message.varbinds,
                received=time.time(),
            )
        )

    def _v3_path(self, data: bytes, address: tuple[str, int], source: _Address) -> None:
        accepted = self.usm.receive(data, address, source.v3)
        if accepted is None:
            return
        n = accepted.scoped.notification
        self._deliver(
            Notification(
                ne=accepted.source.ne,
                source=(address[0], address[1]),
                version="3",
                trap_oid=n.trap_oid,
                uptime=n.uptime,
                varbinds=n.varbinds,
                received=time.time(),
                context=accepted.scoped.context_name,
            )
        )

    def _deliver(self, notification: Notification) -> None:
        self.counters["accepted"] += 1
        try:
            self._on_notification(notification)
        except Exception:
            self.counters["callback_errors"] += 1
            log.exception("notification callback failed for %s", notification.ne)


def _specs(spec: SourceSpec | Sequence[SourceSpec]) -> list[SourceSpec]:
    """One spec or several: a (NE, profile) pair is a tuple too."""
    if isinstance(spec, TrapSource):
        return [spec]
    if len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], CredentialProfile):
        return [(spec[0], spec[1])]
    return [s for s in spec if isinstance(s, TrapSource | tuple)]


__all__ = [
    "COUNTER_NAMES",
    "Notification",
    "NotificationCallback",
    "SourceSpec",
    "TrapReceiver",
    "TrapSource",
    "Value",
    "ambiguous_pairs",
]
