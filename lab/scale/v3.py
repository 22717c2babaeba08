"""The scale devices' side of SNMPv3: each device is an authoritative USM engine.

RFC 3414 3.2 as an agent runs it, reduced to what a lab needs: discovery (an unknownEngineID
report naming the engine, its boots and time), unknown users and security levels reported,
a wrong digest dropped, a request outside the time window answered by an authenticated
notInTimeWindow report (the one a poller with a pinned engine ID gets first), and a
Response encrypted and signed at the request's level. The codec is ``shared.usm``, the
ciphers and keys ``agent.usm``: the same code the poller uses, from the other end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agent.usm import KeyCache, Keys, Salts, UsmUser, authentic, plaintext, protect
from shared import ber, usm
from shared.ber import _expect
from shared.errors import BerDecodeError
from shared.smi import TAG_OCTETS, TAG_SEQUENCE

from .mib import Device


@dataclass(frozen=True, slots=True)
class Request:
    """An authentic, timely, decrypted request: what to answer and how to wrap the answer."""

    message: usm.V3Message
    context_name: bytes
    pdu: ber.ResponsePdu


def decode_scoped_request(data: bytes) -> tuple[bytes, bytes, ber.ResponsePdu]:
    """(contextEngineID, contextName, PDU) of a plaintext ScopedPDU of any request type."""
    s_start, s_stop = _expect(data, 0, len(data), TAG_SEQUENCE)
    e_start, e_stop = _expect(data, s_start, s_stop, TAG_OCTETS)
    n_start, n_stop = _expect(data, e_stop, s_stop, TAG_OCTETS)
    pdu = ber.decode_pdu(data, n_stop, s_stop)
    return data[e_start:e_stop], data[n_start:n_stop], pdu


class Engines:
    """USM processing for every v3 device of one responder (one lab user)."""

    def __init__(self, user: UsmUser) -> None:
        self.user = user
        self._keys = KeyCache()
        self._salts = Salts()
        self.stats = {
            "v3_discoveries": 0,
            "v3_unknown_user": 0,
            "v3_bad_level": 0,
            "v3_wrong_digest": 0,
            "v3_not_in_time_window": 0,
            "v3_decrypt_errors": 0,
        }

    def keys(self, dev: Device) -> Keys | None:
        if dev.keys is None:
            # Master keys are cached once for all devices; each device keeps its localized ones.
            dev.keys = self._keys.keys(self.user, dev.engine_id, cache=False)
        return dev.keys

    @staticmethod
    def clock(dev: Device, now: float) -> tuple[int, int]:
        return dev.boots, max(0, int(now - dev.started))

    def receive(self, dev: Device, data: bytes, now: float) -> Request | bytes | None:
        """A request to answer, a Report to send back, or None (dropped)."""
        try:
            msg = usm.decode_message(data)
        except BerDecodeError:
            return None
        if msg.security_model != usm.SECURITY_MODEL_USM:
            return None
        boots, etime = self.clock(dev, now)
        user = self.user
        if msg.engine_id != dev.engine_id:
            self.stats["v3_discoveries"] += 1
            return self._report(dev, msg, "unknownEngineID", now)
        if msg.user != user.name:
            self.stats["v3_unknown_user"] += 1
            return self._report(dev, msg, "unknownUserName", now)
        if (msg.flags & 0x03) != (user.flags & 0x03):
            self.stats["v3_bad_level"] += 1
            return self._report(dev, msg, "unsupportedSecurityLevel", now)
        keys = self.keys(dev)
        if not authentic(user, keys, data, msg):
            self.stats["v3_wrong_digest"] += 1
            return None
        payload = plaintext(user, keys, msg)
        try:
            if payload is None:
                raise BerDecodeError("cannot decrypt")
            _engine, context, pdu = decode_scoped_request(payload)
        except BerDecodeError:
            self.stats["v3_decrypt_errors"] += 1
            return None
        if msg.engine_boots != boots or abs(msg.engine_time - etime) > 150:
            self.stats["v3_not_in_time_window"] += 1
            return self._report(dev, msg, "notInTimeWindow", now, pdu.request_id)
        return Request(msg, context, pdu)

    def response(self, dev: Device, request: Request, pdu: bytes, now: float) -> bytes:
        """The encoded Response-PDU ``pdu``, wrapped, encrypted and signed as asked."""
        boots, etime = self.clock(dev, now)
        msg = request.message
        scoped = usm.encode_scoped_pdu(dev.engine_id, request.context_name, pdu)
        return protect(
            self.user,
            self.keys(dev),
            self._salts,
            msg_id=msg.msg_id,
            flags=msg.flags & 0x03,
            engine_id=dev.engine_id,
            boots=boots,
            time=etime,
            scoped=scoped,
        )

    def _report(
        self,
        dev: Device,
        msg: usm.V3Message,
        name: str,
        now: float,
        request_id: int | None = None,
    ) -> bytes | None:
        if not msg.reportable:
            return None
        if request_id is None:
            request_id = usm.UNKNOWN_REQUEST_ID
            if not msg.encrypted:
                request_id = usm.scoped_request_id(msg.data) or usm.UNKNOWN_REQUEST_ID
        boots, etime = self.clock(dev, now)
        pdu = usm.encode_report_pdu(request_id, name, self.stats_count(name))
        scoped = usm.encode_scoped_pdu(dev.engine_id, b"", pdu)
        if name == "notInTimeWindow":
            # RFC 3414 3.2.7 a: authenticated (authNoPriv), so the poller may trust the clock.
            return protect(
                self.user,
                self.keys(dev),
                self._salts,
                msg_id=msg.msg_id,
                flags=usm.FLAG_AUTH,
                engine_id=dev.engine_id,
                boots=boots,
                time=etime,
                scoped=scoped,
            )
        datagram, _ = usm.encode_message(
            msg_id=msg.msg_id,
            flags=0,
            engine_id=dev.engine_id,
            engine_boots=boots,
            engine_time=etime,
            user=msg.user,
            auth_length=0,
            priv_params=b"",
            data=scoped,
            encrypted=False,
        )
        return datagram

    def stats_count(self, name: str) -> int:
        key = {
            "unknownEngineID": "v3_discoveries",
            "unknownUserName": "v3_unknown_user",
            "unsupportedSecurityLevel": "v3_bad_level",
            "notInTimeWindow": "v3_not_in_time_window",
        }[name]
        return self.stats[key]

    def trap(self, dev: Device, pdu: bytes, now: float) -> bytes:
        """An SNMPv2-Trap PDU as the device's engine sends it (authPriv, not reportable)."""
        boots, etime = self.clock(dev, now)
        scoped = usm.encode_scoped_pdu(dev.engine_id, b"", pdu)
        return protect(
            self.user,
            self.keys(dev),
            self._salts,
            msg_id=random.randrange(1, 1 << 31),
            flags=self.user.flags & 0x03,
            engine_id=dev.engine_id,
            boots=boots,
            time=etime,
            scoped=scoped,
        )
