"""SNMPv3 traps and informs on our own USM (RFC 3412 7.2, RFC 3414 3.2), no pysnmp.

The receiver hands each v3 datagram here with the trap sources of its address. The steps:
decode (shared.usm), find the sources whose v3 user and security level match, check the
authoritative engine ID, verify the digest (agent.usm, the code polls use), check
timeliness, decrypt, decode the ScopedPDU, attribute the notification to one NE, answer an
inform.

Two kinds of authoritative engine:
- a trap's is the SENDER's. A pinned engine ID (inventory) must match; else the one learnt
  earlier must; else the first trap its keys authenticate teaches it (so a spoofed first
  trap cannot lock the real NE out). Its boots/time are learnt and followed forward, and a
  trap more than 150 s behind them, or from an earlier boot, is a replay (3.2.7 b).
- an inform's is OURS (``LocalEngine``): the sender discovers our engine ID (we answer the
  probe with an unknownEngineID Report), and a message outside our window gets an
  authenticated notInTimeWindow Report with our boots/time (3.2.7 a). Our boots are kept
  in the agent's data directory, one more at each start.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.usm import KeyCache, Keys, Salts, UsmUser, authentic, plaintext, protect, usm_user
from shared import ber, usm
from shared import snmp_security as sec
from shared.errors import BerDecodeError
from shared.model import CredentialProfile

log = logging.getLogger(__name__)

ENGINE_FILE = "snmp-engine.json"
_MAX_PEERS = 65536  # sender engines whose clocks we follow (only authenticated ones get in)
_EPOCH_2020 = 1_577_836_800


@dataclass(frozen=True, slots=True)
class LocalEngine:
    engine_id: bytes
    boots: int


def new_engine_id() -> bytes:
    """RFC 3411 SnmpEngineID: enterprise 0 (none registered), format 5 (octets), random."""
    return b"\x80\x00\x00\x00\x05" + secrets.token_bytes(8)


def local_engine(data_dir: str | None) -> LocalEngine:
    """Our engine ID and boots for this start: read from the data directory and written back
    with boots + 1. Without a usable directory: a fresh ID, boots from the wall clock (still
    higher at every start, so inform senders never see them go back)."""
    derived = max(1, int(time.time()) - _EPOCH_2020)
    if not data_dir:
        return LocalEngine(new_engine_id(), derived)
    path = Path(data_dir) / ENGINE_FILE
    engine_id, boots = b"", 0
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        engine_id = bytes.fromhex(str(doc["engine_id"]))
        boots = int(doc["boots"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s unreadable (%s): starting a new SNMP engine ID", path, exc)
    if not 5 <= len(engine_id) <= 32 or not 0 <= boots < sec.MAX_BOOTS - 1:
        engine_id, boots = new_engine_id(), 0
    engine = LocalEngine(engine_id, boots + 1)
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"engine_id": engine_id.hex(), "boots": engine.boots}))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot keep SNMP engine boots in %s (%s): derived from the clock", path, exc)
        return LocalEngine(engine_id, max(engine.boots, derived))
    return engine


@dataclass(frozen=True, slots=True)
class V3Source:
    """One NE that may send v3 notifications from an address, ready for the checks."""

    ne: str
    profile: CredentialProfile
    user: UsmUser
    pinned: bytes | None  # the inventory's engine ID: the only one accepted
    learned: bytes | None  # seen in an authenticated trap before (the database)

    @classmethod
    def of(
        cls, ne: str, profile: CredentialProfile, pinned: bytes | None, learned: bytes | None
    ) -> V3Source | None:
        user = usm_user(profile)
        if user is None or not profile.user:
            return None
        return cls(ne, profile, user, pinned, learned)


@dataclass(frozen=True, slots=True)
class Accepted:
    source: V3Source
    scoped: usm.ScopedNotification
    message: usm.V3Message


Drop = Callable[[str, tuple[str, int], str], None]  # counter name, address, why
Send = Callable[[bytes, tuple[str, int]], None]


class NotificationUsm:
    """The USM state of a trap receiver: our engine, keys, learnt engines and clocks."""

    def __init__(
        self,
        engine: LocalEngine,
        send: Send,
        drop: Drop,
        counters: dict[str, int],
        on_learned: Callable[[str, bytes], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine_id = engine.engine_id
        self.boots = engine.boots
        self._clock = clock
        self._started = clock()
        self._send = send
        self._drop = drop
        self._counters = counters
        self._on_learned = on_learned
        self.keys = KeyCache()
        self._salts = Salts()
        self._peers: dict[bytes, sec.PeerClock] = {}
        self.learned: dict[str, bytes] = {}  # NE -> engine ID learnt (not pinned)
        self.usm_stats: dict[str, int] = dict.fromkeys(usm.REPORT_ARCS, 0)

    def our_time(self) -> int:
        return min(int(self._clock() - self._started), sec.MAX_BOOTS)

    def set_sources(self, sources: Iterable[V3Source]) -> None:
        """The NEs that may send now, with what was learnt of them (the caller keeps that,
        e.g. in the database): everything else about engines, clocks and keys goes."""
        listed = list(sources)
        learned = {s.ne: s.learned for s in listed if s.learned is not None}
        for ne, engine_id in self.learned.items():
            if learned.get(ne) != engine_id:
                # Reset (a replaced device) or changed: its clock starts afresh too.
                self._peers.pop(engine_id, None)
        self.learned = learned
        expected = {e for s in listed for e in (s.pinned, s.learned) if e}
        self._peers = {e: c for e, c in self._peers.items() if e in expected}
        self.keys.retain(s.user for s in listed)

    # ------------------------------------------------------------------ receive

    def receive(
        self, data: bytes, address: tuple[str, int], sources: Sequence[V3Source]
    ) -> Accepted | None:
        """Check one v3 datagram from a known address; None if dropped (counted)."""
        try:
            msg = usm.decode_message(data)
        except BerDecodeError as exc:
            self._drop("malformed", address, str(exc))
            return None
        if msg.security_model != usm.SECURITY_MODEL_USM or not sources:
            self._drop("bad_v3", address, "no v3 user for this NE")
            return None
        ours = msg.engine_id == self.engine_id
        if not msg.engine_id or (not ours and msg.reportable):
            # Discovery (RFC 3414 4), or a confirmed message for an engine we are not: tell
            # the sender our engine ID, boots and time.
            if msg.reportable:
                self._report(msg, address, "unknownEngineID")
            else:
                self._drop("bad_v3", address, "no authoritative engine ID")
            return None
        level = sec.flags_level(msg.flags)
        named = [s for s in sources if hmac.compare_digest(s.user.name, msg.user)]
        fitting = [s for s in named if s.user.level == level]
        if not fitting:
            name = "unknownUserName" if not named else "unsupportedSecurityLevel"
            why = "unknown v3 user" if not named else "v3 security level not the profile's"
            return self._refuse(msg, address, ours, name, why)
        if ours:
            candidates, exact = fitting, True
        else:
            candidates, exact = self._by_engine(fitting, msg.engine_id)
            if not candidates:
                self._drop("bad_v3", address, "unexpected v3 engine ID")
                return None
        if level == sec.NO_AUTH_NO_PRIV:
            # Nothing to check: such a trap is as good as a community one, and teaches nothing.
            source = candidates[0]
            return self._accept_plain(msg, address, source, ours, len(candidates))
        verified: list[tuple[V3Source, Keys]] = []
        for s in candidates:
            # The digest first, with the auth key alone: an unproven engine ID must not cost
            # the privacy key (the Reeder extension hashes a megabyte).
            check = self.keys.keys(s.user, msg.engine_id, cache=exact, priv=exact)
            if check is not None and authentic(s.user, check, data, msg):
                full = check if exact else self.keys.keys(s.user, msg.engine_id, cache=False)
                assert full is not None
                verified.append((s, full))
        if not verified:
            return self._refuse(msg, address, ours, "wrongDigest", "v3 authentication failed")
        now = self._clock()
        if ours:
            if not sec.authoritative_in_window(
                msg.engine_boots, msg.engine_time, self.boots, self.our_time()
            ):
                self._counters["not_in_time_window"] += 1
                keys = verified[0][1]
                if msg.reportable:
                    self._report(msg, address, "notInTimeWindow", verified[0][0].user, keys)
                self._drop("bad_v3", address, "v3 inform outside our time window")
                return None
            clock = None
        else:
            timely, clock = sec.check_peer(
                self._peers.get(msg.engine_id), msg.engine_boots, msg.engine_time, now
            )
            if not timely:
                self._counters["not_in_time_window"] += 1
                self._drop(
                    "bad_v3",
                    address,
                    f"v3 trap outside the time window (boots {msg.engine_boots}, time "
                    f"{msg.engine_time}): a replay, or an NE that restarted without counting "
                    "its boots (emspool ne reset-engine clears what was learnt)",
                )
                return None
        # Decrypted with each candidate's keys (one, but for NEs sharing an auth key).
        opened: list[tuple[V3Source, Keys, usm.ScopedNotification]] = []
        error = "undecryptable"
        for s, k in verified:
            payload = plaintext(s.user, k, msg)
            try:
                if payload is not None:
                    opened.append((s, k, usm.decode_scoped_notification(payload)))
            except BerDecodeError as exc:
                error = str(exc)
        if not opened:
            if not msg.encrypted:
                self._drop("malformed", address, error)
                return None
            return self._refuse(msg, address, ours, "decryptionError", "v3 decryption failed")
        source, keys, scoped = opened[0]
        if len(opened) > 1:
            picked = self._by_context(opened, scoped.context_engine_id)
            if picked is None:
                self._drop("ambiguous_source", address, "v3 notification fits several NEs")
                return None
            source, keys, scoped = picked
        if scoped.notification.pdu_type == ber.PDU_INFORM and not ours:
            self._drop("bad_v3", address, "inform not addressed to our engine ID")
            return None
        if not ours:
            assert clock is not None
            if len(self._peers) >= _MAX_PEERS:
                self._peers.clear()
            self._peers[msg.engine_id] = clock
            if self.learned.get(source.ne) != msg.engine_id:
                self._learn(source, msg.engine_id)
        if scoped.notification.pdu_type == ber.PDU_INFORM:
            self._answer(msg, address, source.user, keys, scoped)
        return Accepted(source, scoped, msg)

    def _accept_plain(
        self,
        msg: usm.V3Message,
        address: tuple[str, int],
        source: V3Source,
        ours: bool,
        fits: int,
    ) -> Accepted | None:
        if fits > 1:
            self._drop("ambiguous_source", address, "v3 notification fits several NEs")
            return None
        try:
            scoped = usm.decode_scoped_notification(msg.data)
        except BerDecodeError as exc:
            self._drop("malformed", address, str(exc))
            return None
        if scoped.notification.pdu_type == ber.PDU_INFORM:
            if not ours:
                self._drop("bad_v3", address, "inform not addressed to our engine ID")
                return None
            self._answer(msg, address, source.user, None, scoped)
        return Accepted(source, scoped, msg)

    def _by_engine(self, fitting: list[V3Source], engine_id: bytes) -> tuple[list[V3Source], bool]:
        """The sources a trap from ``engine_id`` may be from: those that know it, else those
        still to learn theirs (then True/False: whether the engine ID is proven)."""
        exact, learnable = [], []
        for s in fitting:
            known = s.pinned or self.learned.get(s.ne)
            if known is None:  # nothing pinned, nothing learnt yet
                if 5 <= len(engine_id) <= 32:
                    learnable.append(s)
            elif hmac.compare_digest(known, engine_id):
                exact.append(s)
        return (exact, True) if exact else (learnable, False)

    def _by_context(
        self,
        opened: list[tuple[V3Source, Keys, usm.ScopedNotification]],
        context_engine_id: bytes,
    ) -> tuple[V3Source, Keys, usm.ScopedNotification] | None:
        # Informs name our engine; the contextEngineID is the sender's own (RFC 3413 3.2).
        fits = [
            o for o in opened if (o[0].pinned or self.learned.get(o[0].ne)) == context_engine_id
        ]
        return fits[0] if len(fits) == 1 else None

    def _learn(self, source: V3Source, engine_id: bytes) -> None:
        """First authenticated trap of an NE's engine (pinned or not): keep it, say so."""
        self.learned[source.ne] = engine_id
        self._counters["engines_learned"] += 1
        self.keys.keys(source.user, engine_id)  # now proven: cache its keys
        log.info(
            "SNMP engine ID %s of %s %s by an authenticated trap",
            engine_id.hex(),
            source.ne,
            "confirmed" if source.pinned else "learnt",
        )
        if self._on_learned is not None:
            try:
                self._on_learned(source.ne, engine_id)
            except Exception:
                log.exception("engine ID callback failed for %s", source.ne)

    # ------------------------------------------------------------------ answers

    def _refuse(
        self, msg: usm.V3Message, address: tuple[str, int], ours: bool, report: str, why: str
    ) -> Accepted | None:
        """Drop a message; a confirmed one for our engine gets the Report RFC 3414 names."""
        if ours and msg.reportable:
            self._report(msg, address, report)
        self._drop("bad_v3", address, why)
        return None

    def _report(
        self,
        msg: usm.V3Message,
        address: tuple[str, int],
        name: str,
        user: UsmUser | None = None,
        keys: Keys | None = None,
    ) -> None:
        """A Report naming a usmStats counter; authenticated only for notInTimeWindow
        (RFC 3414 3.2 7 a), every other one at noAuthNoPriv."""
        self.usm_stats[name] += 1
        request_id = None
        if not msg.encrypted:
            try:
                request_id = usm.scoped_request_id(msg.data)
            except BerDecodeError:
                pass
        pdu = usm.encode_report_pdu(
            usm.UNKNOWN_REQUEST_ID if request_id is None else request_id,
            name,
            self.usm_stats[name],
        )
        if user is None:
            user = UsmUser(msg.user, None, b"", None, b"")
        datagram = protect(
            user,
            keys,
            self._salts,
            msg_id=msg.msg_id,
            flags=usm.FLAG_AUTH if user.auth is not None else 0,
            engine_id=self.engine_id,
            boots=self.boots,
            time=self.our_time(),
            scoped=usm.encode_scoped_pdu(self.engine_id, b"", pdu),
        )
        self._send(datagram, address)
        self._counters["reports_sent"] += 1

    def _answer(
        self,
        msg: usm.V3Message,
        address: tuple[str, int],
        user: UsmUser,
        keys: Keys | None,
        scoped: usm.ScopedNotification,
    ) -> None:
        """The Response to an inform: at its security level, from our engine."""
        pdu = usm.encode_response_to(scoped.notification)
        datagram = protect(
            user,
            keys,
            self._salts,
            msg_id=msg.msg_id,
            flags=msg.flags & (usm.FLAG_AUTH | usm.FLAG_PRIV),
            engine_id=self.engine_id,
            boots=self.boots,
            time=self.our_time(),
            scoped=usm.encode_scoped_pdu(scoped.context_engine_id, scoped.context_name, pdu),
        )
        self._send(datagram, address)
        self._counters["informs_answered"] += 1
