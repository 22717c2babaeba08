"""Our own SNMPv3 (USM) request transport: one UDP socket per address family for every target.

The same idea as _v2c.py for v3: pysnmp's pyasn1 decoding dominated a v3 poll's CPU, so this
path encodes and decodes with ``shared.ber`` / ``shared.usm`` and does the USM steps itself:
engine discovery (RFC 3414 4), localized keys cached per (user, engine), engine boots/time
tracked against our clock, HMAC-MD5/SHA-1/SHA-2 digests and AES-CFB privacy (RFC 3826; 192
and 256 bits with the Blumenthal key extension, as net-snmp). DES is left to pysnmp.

An answer is accepted only if it decodes, carries a msgID we are waiting for, comes from the
address the request went to, and, for a Response, is authenticated (and encrypted) at the
request's level with a correct digest and the request's request-id. Reports may come
unauthenticated (RFC 3414 3.1.1: an agent cannot authenticate a report about bad keys); they
only ever end a request with an error or trigger one resynchronisation. Everything else is
counted in ``stats`` and dropped, so at worst the request times out as a lost one would.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 47 files CFB under "decrepit" (still the mode RFC 3826 prescribes)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment,unused-ignore]

from shared import ber, usm
from shared.errors import BerDecodeError
from shared.model import CredentialProfile, SnmpVersion

from ._udp import UdpRequester, Waiter
from .types import Oid

# Bounds of the key caches: a password-to-key costs ~2 ms, a localization microseconds.
_MAX_KEYS = 8192
# Engine re-synchronisations per request (unknownEngineID / notInTimeWindow reports).
_MAX_RESYNCS = 2
_MAX_INT = 0x7FFFFFFF


class UsmReport(Exception):
    """The agent answered with a Report-PDU; ``name`` is the usmStats counter it named."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class UsmUser:
    """A v3 user as this transport needs it (secrets kept out of repr)."""

    name: bytes
    auth: usm.AuthProtocol | None
    auth_password: bytes = field(repr=False)
    priv_key_length: int  # 0: no privacy
    priv_password: bytes = field(repr=False)

    @property
    def flags(self) -> int:
        flags = usm.FLAG_REPORTABLE
        if self.auth is not None:
            flags |= usm.FLAG_AUTH
        if self.priv_key_length:
            flags |= usm.FLAG_PRIV
        return flags


def usm_user(profile: CredentialProfile) -> UsmUser | None:
    """The native form of a checked v3 profile, or None if only pysnmp speaks it (DES)."""
    if profile.version is not SnmpVersion.V3:
        return None
    auth_name = profile.auth_protocol.strip().lower()
    priv_name = profile.priv_protocol.strip().lower()
    auth = usm.AUTH_PROTOCOLS.get(auth_name)
    if auth is None:
        return None if auth_name != "none" or priv_name != "none" else _user(profile, None, 0)
    if priv_name == "none":
        return _user(profile, auth, 0)
    length = usm.AES_KEY_LENGTHS.get(priv_name)
    return None if length is None else _user(profile, auth, length)


def _user(profile: CredentialProfile, auth: usm.AuthProtocol | None, priv: int) -> UsmUser:
    return UsmUser(
        profile.user.encode(),
        auth,
        profile.auth_key.encode() if auth else b"",
        priv,
        profile.priv_key.encode() if priv else b"",
    )


@dataclass(frozen=True, slots=True)
class _Keys:
    auth: bytes = field(repr=False)
    priv: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Engine:
    """The authoritative engine of one address, and when we last learnt its clock."""

    engine_id: bytes
    boots: int
    time: int
    synced_at: float

    def time_at(self, now: float) -> int:
        return min(self.time + int(now - self.synced_at), _MAX_INT)


@dataclass(slots=True)
class _Reply:
    message: usm.V3Message
    scoped: usm.ScopedPdu


@dataclass(slots=True)
class _Pending(Waiter[_Reply]):
    user: UsmUser | None  # None: a discovery probe
    keys: _Keys | None = field(default=None, repr=False)
    request_id: int = 0


def _aes(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), CFB(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def _iv(boots: int, time: int, salt: bytes) -> bytes:
    # RFC 3826 3.1.2.1: the IV is the engine's boots and time, then the 64-bit salt.
    return boots.to_bytes(4, "big") + time.to_bytes(4, "big") + salt


class V3Transport:
    """Sends v3 requests and matches their answers. Use inside one running event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._engines: dict[tuple[str, int], _Engine] = {}
        self._master_keys: dict[tuple[str, bytes], bytes] = {}
        self._local_keys: dict[tuple[UsmUser, bytes], _Keys] = {}
        self._salt = random.getrandbits(64)
        self.stats: dict[str, int] = {
            "sent": 0,
            "retries": 0,
            "received": 0,
            "malformed": 0,
            "unknown_msg_id": 0,
            "wrong_source": 0,
            "wrong_user": 0,
            "wrong_digest": 0,
            "unauthenticated": 0,
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
        max_repetitions: int = 0,
        timeout: float,
        retries: int,
    ) -> ber.ResponsePdu:
        """Send one request and return its Response-PDU.

        RequestTimeout once timeout x (retries + 1) has passed, discovery included; UsmReport
        if the agent reports an error (after at most two engine re-synchronisations).
        """
        sock = self._udp.socket_for(ipv6)
        deadline = self._loop.time() + timeout * (retries + 1)
        resyncs = 0
        while True:
            engine = self._engines.get(address)
            if engine is None:
                engine = await self._discover(sock, address, timeout, deadline)
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
            )
            message, pdu = reply.message, reply.scoped.pdu
            if pdu.pdu_type == ber.PDU_RESPONSE:
                self._track_time(address, engine, message)
                return pdu
            name = usm.report_name(pdu)
            if name in ("notInTimeWindow", "unknownEngineID") and resyncs < _MAX_RESYNCS:
                # A restarted or replaced NE: take its new clock (and engine ID) and resend.
                resyncs += 1
                self.stats["resyncs"] += 1
                self._learn(address, message)
                continue
            raise UsmReport(name)

    def forget(self, address: tuple[str, int]) -> None:
        """Drop what we know of the engine at ``address`` (the next request rediscovers)."""
        self._engines.pop(address, None)

    def forget_keys(self) -> None:
        """Drop every cached key (a profile was deleted: its secrets must not linger)."""
        self._master_keys.clear()
        self._local_keys.clear()

    def close(self) -> None:
        """Close the sockets and fail every waiting request. Idempotent."""
        self._udp.close()
        self._master_keys.clear()
        self._local_keys.clear()

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
        engine = self._learn(address, reply.message)
        if engine is None:
            raise UsmReport("discovery without an engine ID")
        return engine

    def _learn(self, address: tuple[str, int], message: usm.V3Message) -> _Engine | None:
        if not message.engine_id:
            self._engines.pop(address, None)
            return None
        engine = _Engine(
            message.engine_id, message.engine_boots, message.engine_time, self._loop.time()
        )
        self._engines[address] = engine
        return engine

    def _track_time(
        self, address: tuple[str, int], engine: _Engine, message: usm.V3Message
    ) -> None:
        # RFC 3414 3.2.7 b: follow the agent's clock forward only, from authenticated answers.
        if not message.authenticated or message.engine_id != engine.engine_id:
            return
        now = self._loop.time()
        if (message.engine_boots, message.engine_time) > (engine.boots, engine.time_at(now)):
            self._engines[address] = _Engine(
                engine.engine_id, message.engine_boots, message.engine_time, now
            )

    def _keys(self, user: UsmUser, engine_id: bytes) -> _Keys | None:
        auth = user.auth
        if auth is None:
            return None
        cached = self._local_keys.get((user, engine_id))
        if cached is not None:
            return cached
        auth_key = usm.localize_key(auth, self._master_key(auth, user.auth_password), engine_id)
        priv_key = b""
        if user.priv_key_length:
            local = usm.localize_key(auth, self._master_key(auth, user.priv_password), engine_id)
            priv_key = usm.aes_key(auth, local, user.priv_key_length)
        keys = _Keys(auth_key, priv_key)
        if len(self._local_keys) >= _MAX_KEYS:
            self._local_keys.clear()
        self._local_keys[(user, engine_id)] = keys
        return keys

    def _master_key(self, auth: usm.AuthProtocol, password: bytes) -> bytes:
        key = self._master_keys.get((auth.hash_name, password))
        if key is None:
            key = usm.password_to_key(auth, password)
            if len(self._master_keys) >= _MAX_KEYS:
                self._master_keys.clear()
            self._master_keys[(auth.hash_name, password)] = key
        return key

    def _next_salt(self) -> bytes:
        self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
        return self._salt.to_bytes(8, "big")

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
    ) -> _Reply:
        keys = self._keys(user, engine.engine_id)
        msg_id = self._udp.allocate_id()
        scoped = usm.encode_request(
            pdu_type,
            msg_id,
            oids,
            context_engine_id=engine.engine_id,
            context_name=context_name,
            max_repetitions=max_repetitions,
        )
        boots, time = engine.boots, engine.time_at(self._loop.time())
        priv_params = b""
        if keys is not None and user.priv_key_length:
            priv_params = self._next_salt()
            scoped = _aes(keys.priv, _iv(boots, time, priv_params), scoped, encrypt=True)
        auth = user.auth
        datagram, offset = usm.encode_message(
            msg_id=msg_id,
            flags=user.flags,
            engine_id=engine.engine_id,
            engine_boots=boots,
            engine_time=time,
            user=user.name,
            auth_length=auth.mac_length if auth else 0,
            priv_params=priv_params,
            data=scoped,
            encrypted=bool(priv_params),
        )
        if auth is not None and keys is not None:
            datagram = usm.sign(auth, keys.auth, datagram, offset)
        pending = _Pending(self._loop.create_future(), address, user, keys, msg_id)
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
        user, keys = pending.user, pending.keys
        if message.authenticated:
            if user is None or user.auth is None or keys is None or message.user != user.name:
                stats["wrong_user"] += 1
                return
            if not usm.verify(user.auth, keys.auth, data, message):
                stats["wrong_digest"] += 1
                return
        payload = message.data
        if message.encrypted:
            if user is None or keys is None or not user.priv_key_length:
                stats["unauthenticated"] += 1
                return
            if len(message.priv_params) != 8:
                stats["decrypt_errors"] += 1
                return
            iv = _iv(message.engine_boots, message.engine_time, message.priv_params)
            payload = _aes(keys.priv, iv, payload, encrypt=False)
        try:
            scoped = usm.decode_scoped_pdu(payload)
        except BerDecodeError:
            stats["decrypt_errors" if message.encrypted else "malformed"] += 1
            return
        if scoped.pdu.pdu_type == ber.PDU_RESPONSE:
            # A Response must be protected as the request was (RFC 3412 7.2.10).
            if user is None or (message.flags & 0x03) != (user.flags & 0x03):
                stats["unauthenticated"] += 1
                return
            if scoped.pdu.request_id != pending.request_id:
                stats["unknown_request_id"] += 1
                return
        if not pending.future.done():
            pending.future.set_result(_Reply(message, scoped))
