"""Our own SNMPv3 (USM) request transport: one UDP socket per address family for every target.

The same idea as _v2c.py for v3: pysnmp's pyasn1 decoding dominated a v3 poll's CPU, so this
path encodes and decodes with ``shared.ber`` / ``shared.usm`` and does the USM steps itself
with the machinery it shares with the trap receiver (agent/usm.py): engine discovery (RFC 3414 4),
keys cached per (user, engine), the agent's boots/time tracked against our clock, every auth
and privacy protocol of shared/snmp_security.py.

An answer is accepted only if it decodes, carries a msgID we are waiting for, comes from the
address the request went to, and, for a Response, is authenticated (and encrypted) at the
request's level with a correct digest, the request's request-id, and a time inside the
agent's window (RFC 3414 3.2.7 b). Reports are taken as RFC 3414 allows: an authenticated
one is the agent's word (resync on notInTimeWindow, else an error); an UNAUTHENTICATED one
anybody could have sent, so it only ever triggers the discovery and resynchronisation steps
(unknownEngineID, notInTimeWindow), a bounded number of times, and is otherwise counted and
noted while the request keeps waiting for the real answer. Everything else is counted in
``stats`` and dropped, so at worst the request times out as a lost one would.

A pinned engine ID (inventory) is never discovered: the first request goes out with it and
boots/time 0, and the agent's authenticated notInTimeWindow report gives its clock.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.usm import KeyCache, Keys, Salts, UsmUser, authentic, plaintext, protect
from shared import ber, usm
from shared import snmp_security as sec
from shared.errors import BerDecodeError

from ._udp import RequestTimeout, UdpRequester, Waiter
from .types import Oid

# Engine re-synchronisations per request (unknownEngineID / notInTimeWindow reports).
_MAX_RESYNCS = 2
_RESYNC_REPORTS = frozenset({"notInTimeWindow", "unknownEngineID"})


class UsmReport(Exception):
    """The agent answered with an authenticated Report-PDU naming this usmStats counter."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class UsmTimeout(RequestTimeout):
    """No acceptable answer in time; ``note`` says what unauthenticated reports came."""

    def __init__(self, note: str = "") -> None:
        super().__init__(note)
        self.note = note


@dataclass(frozen=True, slots=True)
class _Engine:
    """The authoritative engine of one address and our notion of its clock."""

    engine_id: bytes
    clock: sec.PeerClock


@dataclass(slots=True)
class _Reply:
    message: usm.V3Message
    scoped: usm.ScopedPdu
    engine: _Engine | None = None  # a timely Response: the notion it confirms


@dataclass(slots=True)
class _Pending(Waiter[_Reply]):
    user: UsmUser | None  # None: a discovery probe
    keys: Keys | None = field(default=None, repr=False)
    request_id: int = 0
    engine: _Engine | None = None
    pinned: bytes = b""
    may_resync: bool = False
    notes: list[str] = field(default_factory=list)


class V3Transport:
    """Sends v3 requests and matches their answers. Use inside one running event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._engines: dict[tuple[str, int], _Engine] = {}
        self.keys = KeyCache()
        self._salts = Salts()
        self.stats: dict[str, int] = {
            "sent": 0,
            "retries": 0,
            "received": 0,
            "malformed": 0,
            "unknown_msg_id": 0,
            "wrong_source": 0,
            "wrong_user": 0,
            "wrong_engine": 0,
            "wrong_digest": 0,
            "unauthenticated": 0,
            "unauthenticated_reports": 0,
            "not_in_time_window": 0,
            "decrypt_errors": 0,
            "unknown_request_id": 0,
            "send_errors": 0,
            "timeouts": 0,
            "discoveries": 0,
            "resyncs": 0,
        }
        self._udp: UdpRequester[_Reply, _Pending] = UdpRequester(self._on_datagram, self.stats)

    async def request(
        self,
        address: tuple[str, int],
        ipv6: bool,
        user: UsmUser,
        context_name: bytes,
        pdu_type: int,
        oids: Sequence[Oid],
        *,
        pinned: bytes = b"",
        max_repetitions: int = 0,
        timeout: float,
        retries: int,
    ) -> ber.ResponsePdu:
        """Send one request and return its Response-PDU.

        UsmTimeout once timeout x (retries + 1) has passed, discovery included; UsmReport if
        the agent reports an error in an authenticated Report (after at most two engine
        re-synchronisations).
        """
        sock = self._udp.socket_for(ipv6)
        deadline = self._loop.time() + timeout * (retries + 1)
        engine = self._engines.get(address)
        if pinned and (engine is None or engine.engine_id != pinned):
            engine = _Engine(pinned, sec.learn_clock(0, 0, self._loop.time()))
        resyncs = 0
        notes: list[str] = []
        try:
            if engine is None:
                engine = await self._discover(sock, address, timeout, deadline)
            while True:
                reply = await self._exchange(
                    sock,
                    address,
                    user,
                    engine,
                    context_name,
                    pdu_type,
                    oids,
                    max_repetitions,
                    timeout,
                    deadline,
                    pinned=pinned,
                    may_resync=resyncs < _MAX_RESYNCS,
                    notes=notes,
                )
                message, pdu = reply.message, reply.scoped.pdu
                if pdu.pdu_type == ber.PDU_RESPONSE:
                    if reply.engine is not None:
                        self._engines[address] = reply.engine
                    return pdu
                name = usm.report_name(pdu)
                if name in _RESYNC_REPORTS and resyncs < _MAX_RESYNCS:
                    # A restarted or replaced NE: take its clock (and engine ID), resend.
                    resyncs += 1
                    self.stats["resyncs"] += 1
                    engine = self._from_report(message)
                    if message.authenticated:  # its keys vouch for it: keep it for others
                        self._engines[address] = engine
                    continue
                raise UsmReport(name)
        except UsmTimeout:
            raise
        except RequestTimeout:
            raise UsmTimeout(_note(notes)) from None

    def forget(self, address: tuple[str, int]) -> None:
        """Drop what we know of the engine at ``address`` (the next request rediscovers)."""
        self._engines.pop(address, None)

    def forget_keys(self) -> None:
        """Drop every cached key."""
        self.keys.clear()

    def retain(self, users: Iterable[UsmUser]) -> None:
        """Drop the keys of every user not in ``users`` (its profile changed or went)."""
        self.keys.retain(users)

    def close(self) -> None:
        """Close the sockets and fail every waiting request. Idempotent."""
        self._udp.close()
        self.keys.clear()

    # -- USM steps ------------------------------------------------------------------------

    async def _discover(
        self, sock: socket.socket, address: tuple[str, int], timeout: float, deadline: float
    ) -> _Engine:
        """RFC 3414 4: an empty noAuthNoPriv GET; the unknownEngineID report names the engine."""
        self.stats["discoveries"] += 1
        msg_id = self._udp.allocate_id()
        scoped = usm.encode_request(
            ber.PDU_GET, msg_id, (), context_engine_id=b"", context_name=b""
        )
        datagram, _ = usm.encode_message(
            msg_id=msg_id,
            flags=usm.FLAG_REPORTABLE,
            engine_id=b"",
            engine_boots=0,
            engine_time=0,
            user=b"",
            auth_length=0,
            priv_params=b"",
            data=scoped,
            encrypted=False,
        )
        pending = _Pending(self._loop.create_future(), address, None)
        reply = await self._udp.send_and_wait(
            sock, msg_id, pending, datagram, timeout, deadline=deadline
        )
        # Unauthenticated by nature (RFC 3414 4); the first authenticated answer confirms it.
        engine = self._from_report(reply.message)
        self._engines[address] = engine
        return engine

    def _from_report(self, message: usm.V3Message) -> _Engine:
        now = self._loop.time()
        return _Engine(
            message.engine_id, sec.learn_clock(message.engine_boots, message.engine_time, now)
        )

    async def _exchange(
        self,
        sock: socket.socket,
        address: tuple[str, int],
        user: UsmUser,
        engine: _Engine,
        context_name: bytes,
        pdu_type: int,
        oids: Sequence[Oid],
        max_repetitions: int,
        timeout: float,
        deadline: float,
        *,
        pinned: bytes,
        may_resync: bool,
        notes: list[str],
    ) -> _Reply:
        keys = self.keys.keys(user, engine.engine_id)
        msg_id = self._udp.allocate_id()
        scoped = usm.encode_request(
            pdu_type,
            msg_id,
            oids,
            context_engine_id=engine.engine_id,
            context_name=context_name,
            max_repetitions=max_repetitions,
        )
        datagram = protect(
            user,
            keys,
            self._salts,
            msg_id=msg_id,
            flags=user.flags,
            engine_id=engine.engine_id,
            boots=engine.clock.boots,
            time=engine.clock.time_at(self._loop.time()),
            scoped=scoped,
        )
        pending = _Pending(
            self._loop.create_future(),
            address,
            user,
            keys,
            msg_id,
            engine,
            pinned,
            may_resync,
            notes,
        )
        return await self._udp.send_and_wait(
            sock, msg_id, pending, datagram, timeout, deadline=deadline
        )

    # -- receiving ------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        stats = self.stats
        try:
            message = usm.decode_message(data)
        except BerDecodeError:
            stats["malformed"] += 1
            return
        pending = self._udp.waiter(message.msg_id)
        if pending is None:
            stats["unknown_msg_id"] += 1
            return
        if (source[0], source[1]) != pending.address:
            stats["wrong_source"] += 1
            return
        if message.security_model != usm.SECURITY_MODEL_USM:
            stats["malformed"] += 1
            return
        user, keys, engine = pending.user, pending.keys, pending.engine
        if user is None or engine is None:  # discovery: any report naming an engine
            if message.engine_id:
                self._settle(pending, message)
            else:
                stats["malformed"] += 1
            return
        if message.authenticated:
            if user.auth is None or message.user != user.name:
                stats["wrong_user"] += 1
                return
            if message.engine_id != engine.engine_id:
                stats["wrong_engine"] += 1  # our keys are localized to the engine we asked
                return
            if not authentic(user, keys, data, message):
                stats["wrong_digest"] += 1
                return
        elif message.encrypted:
            stats["unauthenticated"] += 1
            return
        payload = plaintext(user, keys, message) if message.authenticated else message.data
        if payload is None:
            stats["decrypt_errors"] += 1
            return
        try:
            scoped = usm.decode_scoped_pdu(payload)
        except BerDecodeError:
            stats["decrypt_errors" if message.encrypted else "malformed"] += 1
            return
        pdu = scoped.pdu
        if pdu.pdu_type == ber.PDU_RESPONSE:
            # A Response must be protected as the request was (RFC 3412 7.2.10).
            if (message.flags & 0x03) != (user.flags & 0x03):
                stats["unauthenticated"] += 1
                return
            if pdu.request_id != pending.request_id:
                stats["unknown_request_id"] += 1
                return
            if user.auth is not None:
                timely, clock = sec.check_peer(
                    engine.clock, message.engine_boots, message.engine_time, self._loop.time()
                )
                if not timely:
                    stats["not_in_time_window"] += 1
                    return
                self._settle(pending, message, scoped, _Engine(engine.engine_id, clock))
                return
        elif (
            not message.authenticated
            and user.auth is not None
            and not self._may_act_on(pending, message, usm.report_name(pdu))
        ):
            return
        self._settle(pending, message, scoped)

    def _may_act_on(self, pending: _Pending, message: usm.V3Message, name: str) -> bool:
        """Whether an unauthenticated Report may steer this request (RFC 3414 3.2, 4)."""
        pinned = pending.pinned
        steers = not pinned or (name == "notInTimeWindow" and message.engine_id == pinned)
        if name in _RESYNC_REPORTS and pending.may_resync and steers:
            return True
        self.stats["unauthenticated_reports"] += 1
        note = name
        if pinned and message.engine_id and message.engine_id != pinned:
            note = f"{name} from engine {message.engine_id.hex()}, pinned {pinned.hex()}"
        if note not in pending.notes:
            pending.notes.append(note)
        return False

    @staticmethod
    def _settle(
        pending: _Pending,
        message: usm.V3Message,
        scoped: usm.ScopedPdu | None = None,
        engine: _Engine | None = None,
    ) -> None:
        if scoped is None:
            try:
                scoped = usm.decode_scoped_pdu(message.data)
            except BerDecodeError:
                scoped = usm.ScopedPdu(b"", b"", ber.ResponsePdu(ber.PDU_REPORT, 0, 0, 0, ()))
        if not pending.future.done():
            pending.future.set_result(_Reply(message, scoped, engine))


def _note(notes: list[str]) -> str:
    """What a timeout message adds: the reports nobody could vouch for."""
    return f"agent reported {', '.join(notes)}, unauthenticated" if notes else ""
