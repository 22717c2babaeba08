"""Fuzzing the BER decoders themselves: no catch-all, invariants on every accepted input.

The public decoders are wrapped by ``_guarded``, which turns an IndexError or TypeError into a
BerDecodeError, so fuzzing them proves nothing. These tests call the unwrapped ``_decode_*``
functions: a BerDecodeError is the only accepted refusal, anything else escaping is a failure.
Each accepted input must also decode to values inside their SMI ranges (checked against the
RFC 2578 / RFC 3416 numbers written out here, not against shared.smi), re-encode to a message
that decodes to the same typed values, and decode the same way through every decoder that
takes it (the hot-path plain decoders and the typed generic one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from shared import ber, ber_decode, smi, usm
from shared.ber import (
    PDU_GETBULK,
    PDU_INFORM,
    PDU_REPORT,
    PDU_RESPONSE,
    PDU_TRAP_V2,
    Counter32,
    Counter64,
    Gauge32,
    IpAddress,
    TimeTicks,
)
from shared.errors import BerDecodeError
from tests.helpers.ber_seeds import EXCEPTIONS, SEEDS
from tests.helpers.mutate import mutations, structured_mutations
from tests.helpers.snmp_views import our_tagged

pytestmark = pytest.mark.timeout(60)

# The ranges, written out from RFC 2578 section 7 (and the plain int, Integer32).
RANGES: dict[type, tuple[int, int]] = {
    int: (-(2**31), 2**31 - 1),
    Counter32: (0, 2**32 - 1),
    Gauge32: (0, 2**32 - 1),
    TimeTicks: (0, 2**32 - 1),
    Counter64: (0, 2**64 - 1),
}


def value_problem(value: object) -> str | None:
    """Why a decoded (typed) value could not be an SMI value, or None."""
    if type(value) in RANGES:
        low, high = RANGES[type(value)]
        return None if low <= value <= high else f"{type(value).__name__} out of range"  # type: ignore[operator]
    if isinstance(value, IpAddress):
        parts = value.split(".")
        ok = len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)
        return None if ok else "IpAddress not a dotted quad"
    if isinstance(value, bytes):
        return None if len(value) <= 65535 else "OCTET STRING too long"
    if isinstance(value, tuple):
        return oid_problem(value)
    if value is None or isinstance(value, ber.ExceptionValue):
        return None
    return f"unexpected value class {type(value).__name__}"


def oid_problem(oid: tuple[int, ...]) -> str | None:
    if not 2 <= len(oid) <= 128:
        return "OID length"
    if oid[0] not in (0, 1, 2) or (oid[0] < 2 and oid[1] >= 40):
        return "OID first arcs"
    if not all(0 <= arc <= 2**32 - 1 for arc in oid[2:]) or oid[0] * 40 + oid[1] > 2**32 - 1:
        return "OID arc out of range"
    return None


def _tagged(varbinds: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return [(oid, our_tagged(v)) for oid, v in varbinds]


def _plain(varbinds: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return [(oid, tagged[1]) for oid, tagged in _tagged(varbinds)]


def check_pdu_message(data: bytes) -> list[str]:
    """Invariants for one input through the generic PDU decoders; [] when all hold."""
    problems: list[str] = []
    try:
        got = ber._decode_pdu_message(data, typed=True)
    except BerDecodeError:
        got = None
    try:
        response = ber._decode_response(data)
    except BerDecodeError:
        response = None
    if got is None:
        if response is not None:
            problems.append("decode_response accepts what decode_pdu_message refuses")
        return problems
    pdu = got.pdu
    bulk = pdu.pdu_type == PDU_GETBULK
    if not -(2**31) <= pdu.request_id <= 2**31 - 1:
        problems.append("request-id out of range")
    low = 0 if bulk else -(2**31)
    if not low <= pdu.error_status <= 2**31 - 1 or not 0 <= pdu.error_index <= 2**31 - 1:
        problems.append("error-status/error-index out of range")
    problems += [p for _, v in pdu.varbinds for p in [value_problem(v)] if p]
    problems += [p for oid, _ in pdu.varbinds for p in [oid_problem(oid)] if p]
    again = ber._decode_pdu_message(
        ber.encode_pdu_message(
            got.version,
            got.community,
            pdu.pdu_type,
            pdu.request_id,
            pdu.varbinds,
            error_status=pdu.error_status,
            error_index=pdu.error_index,
        ),
        typed=True,
    )
    if (again.version, again.community, again.pdu) != (got.version, got.community, pdu) or _tagged(
        again.pdu.varbinds
    ) != _tagged(pdu.varbinds):
        problems.append("re-encoded message decodes differently")
    if pdu.pdu_type == PDU_RESPONSE:
        if response is None:
            problems.append("decode_response refuses a Response decode_pdu_message accepts")
        elif _plain(response.varbinds) != _plain(pdu.varbinds) or (
            response.request_id,
            response.error_status,
            response.error_index,
        ) != (pdu.request_id, pdu.error_status, pdu.error_index):
            problems.append("decode_response and decode_pdu_message disagree")
    elif response is not None:
        problems.append("decode_response accepts a PDU that is not a Response")
    if pdu.pdu_type in (PDU_RESPONSE, PDU_REPORT):
        _, _, pdu_pos, _, _, _ = ber._message_header(data)
        plain = ber._decode_response_pdu(data, pdu_pos, len(data))
        if _plain(plain.varbinds) != _plain(pdu.varbinds):
            problems.append("decode_response_pdu disagrees")
    return problems


def check_notification(data: bytes) -> list[str]:
    problems: list[str] = []
    try:
        typed = ber._decode_message(data, typed=True)
    except BerDecodeError:
        try:
            ber._decode_message(data)
        except BerDecodeError:
            return []
        return ["plain decode_message accepts what the typed one refuses"]
    plain = ber._decode_message(data)
    if _plain(plain.varbinds) != _plain(typed.varbinds) or plain.trap_oid != typed.trap_oid:
        problems.append("plain and typed decode_message disagree")
    problems += [p for _, v in typed.varbinds for p in [value_problem(v)] if p]
    problems += [p for oid, _ in typed.varbinds for p in [oid_problem(oid)] if p]
    if any(isinstance(v, ber.ExceptionValue) for _, v in typed.varbinds):
        problems.append("exception value in a notification not mapped to None")
    if typed.uptime is not None and not 0 <= typed.uptime <= 2**32 - 1:
        problems.append("uptime out of range")
    # Re-encoded as an SNMPv2-Trap (a v1 trap in its RFC 3584 form), it decodes the same.
    pdu_type = PDU_TRAP_V2 if typed.pdu_type != PDU_INFORM else PDU_INFORM
    request_id = typed.request_id
    again = ber._decode_message(
        ber.encode_pdu_message(1, typed.community, pdu_type, request_id, typed.varbinds),
        typed=True,
    )
    if _tagged(again.varbinds) != _tagged(typed.varbinds) or (again.trap_oid, again.uptime) != (
        typed.trap_oid,
        typed.uptime,
    ):
        problems.append("re-encoded notification decodes differently")
    return problems


def check_notification_pdu(data: bytes) -> list[str]:
    """The bare-PDU notification decoder (v3 ScopedPDU contents) on the PDU of the input."""
    try:
        _, _, pdu_pos, _, _, _ = ber._message_header(data)
    except BerDecodeError:
        pdu_pos = 0  # then the whole input, as if it were a PDU
    try:
        bare = ber._decode_notification_pdu(data, pdu_pos, len(data))
    except BerDecodeError:
        return []
    try:
        whole = ber._decode_message(data)
    except BerDecodeError:
        # Only the wrapper may make the difference: a v2c message around an accepted PDU is
        # accepted (a v1 one is refused for carrying a v2 PDU).
        refused_for_pdu = pdu_pos and ber.peek_version(data) == ber.VERSION_V2C
        return ["a bare PDU accepted inside a refused v2c message"] if refused_for_pdu else []
    same = (whole.varbinds, whole.trap_oid, whole.uptime) == (
        bare.varbinds,
        bare.trap_oid,
        bare.uptime,
    )
    return [] if same else ["bare notification PDU decodes differently"]


def check_v3_header(data: bytes) -> list[str]:
    """The SNMPv3 message decoder (unguarded): every header field within its smi range."""
    try:
        msg = usm._decode_message(data)
    except BerDecodeError:
        return []
    fields = (
        (smi.MSG_ID, msg.msg_id),
        (smi.MSG_MAX_SIZE, msg.max_size),
        (smi.MSG_SECURITY_MODEL, msg.security_model),
        (smi.ENGINE_BOOTS, msg.engine_boots),
        (smi.ENGINE_TIME, msg.engine_time),
    )
    return [f"{kind.name} out of range" for kind, v in fields if not kind.low <= v <= kind.high]


CHECKS: list[Callable[[bytes], list[str]]] = [
    check_pdu_message,
    check_notification,
    check_notification_pdu,
    check_v3_header,
]


def fuzz(inputs: Iterable[bytes], checks: list[Callable[[bytes], list[str]]]) -> dict[str, str]:
    """Run every check on every input; {problem: first input hex} for whatever went wrong,
    including any exception other than BerDecodeError escaping a decoder."""
    found: dict[str, str] = {}
    for data in inputs:
        for check in checks:
            try:
                problems = check(data)
            except BerDecodeError as exc:  # only from a re-decode of our own encoding
                problems = [f"our own encoding refused: {exc}"]
            except ValueError as exc:  # the encoder refused a decoded value
                problems = [f"decoded value not encodable: {exc}"]
            except Exception as exc:  # IndexError, TypeError, RecursionError, ...
                problems = [f"{type(exc).__name__} escaped: {exc}"]
            for problem in problems:
                found.setdefault(problem, data.hex())
        assert ber.peek_version(data) in (None, *range(256))
    return found


def test_seeds_decode() -> None:
    assert fuzz(SEEDS, CHECKS) == {}
    assert ber._decode_pdu_message(SEEDS[0], typed=True).pdu.varbinds[-3:] == tuple(EXCEPTIONS)


def test_fuzz_raw_mutations() -> None:
    assert fuzz(mutations(SEEDS, 6000, 20260612), CHECKS) == {}


def test_fuzz_structured_mutations() -> None:
    """Mutants that keep their framing, so they reach the value decoders and range checks."""
    accepted = 0
    inputs = list(structured_mutations(SEEDS, 6000, 20260613))
    assert fuzz(inputs, CHECKS) == {}
    for data in inputs:
        for decode in (ber._decode_pdu_message, ber._decode_message):
            try:
                decode(data)
                accepted += 1
                break
            except BerDecodeError:
                pass
    assert 800 < accepted < 5000  # both outcomes are well exercised


def test_the_harness_catches_an_escape_and_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz tests above can fail: a decoder that lets an IndexError out, or one that
    returns an out-of-range value, is reported."""
    real = ber_decode._oid_slow

    def sloppy_oid(raw: bytes) -> tuple[int, ...]:
        if raw[-1:] == b"\x7f":
            raise IndexError("slip")
        return real(raw)

    monkeypatch.setattr(ber_decode, "_oid_slow", sloppy_oid)
    ber._oid_cache.clear()
    found = fuzz(structured_mutations(SEEDS, 300, 1), CHECKS)
    assert any("IndexError escaped" in p for p in found)
    monkeypatch.undo()
    ber._oid_cache.clear()

    monkeypatch.setattr(smi.COUNTER32, "high", 2**40)  # as if the range check were missing
    found = fuzz([_counter32_response("0100000000")], [check_pdu_message])
    assert any("Counter32 out of range" in p for p in found)


def _counter32_response(content: str) -> bytes:
    vb = ber._tlv(
        0x30, ber._enc_oid((1, 3, 6, 1, 4, 1, 1)) + ber._tlv(0x41, bytes.fromhex(content))
    )
    pdu = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + ber._tlv(0x30, vb)
    return ber._tlv(0x30, b"\x02\x01\x01\x04\x01c" + ber._tlv(PDU_RESPONSE, pdu))
