"""The pool's bus messages are validated before any state machine sees them."""

from __future__ import annotations

import pytest

from shared.election import Kind, Message
from shared.poolwire import (
    AssignmentNotice,
    ElectionMsg,
    ForwardedTrap,
    PoolWireError,
    decode_value,
    encode_value,
    from_args,
    to_args,
)


def test_election_message_round_trip():
    m = Message(Kind.COORDINATOR, "a1", 30, 7, "a1")
    args = to_args(ElectionMsg.of(m))
    assert args == {
        "kind": "coordinator",
        "sender": "a1",
        "priority": 30,
        "epoch": 7,
        "master": "a1",
    }
    assert from_args(args, ElectionMsg).to_message() == m


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "usurp", "sender": "a1", "priority": 1, "epoch": 1},
        {"kind": "heartbeat", "sender": "", "priority": 1, "epoch": 1},
        {"kind": "heartbeat", "sender": "a1", "priority": 1, "epoch": -1},
        {"kind": "heartbeat", "sender": "a1", "priority": "high", "epoch": 1},
        {"kind": "heartbeat", "sender": "a1", "priority": 1, "epoch": 1, "extra": 1},
        {"kind": "heartbeat", "sender": "a1", "priority": 1},
        ["heartbeat"],
        None,
    ],
)
def test_malformed_election_messages_are_refused(bad):
    with pytest.raises(PoolWireError, match="ElectionMsg"):
        from_args(bad, ElectionMsg)


def test_assignment_notice_validates_its_table():
    ok = {"master": "a1", "epoch": 3, "version": 9, "owners": {"ne1": "a1", "ne2": "a2"}}
    assert from_args(ok, AssignmentNotice).owners == {"ne1": "a1", "ne2": "a2"}
    with pytest.raises(PoolWireError):
        from_args(ok | {"owners": {"ne1": ""}}, AssignmentNotice)
    with pytest.raises(PoolWireError):
        from_args(ok | {"owners": {"ne1": 5}}, AssignmentNotice)


def test_forwarded_trap_values_survive_json():
    values = [b"\xffabc", (1, 3, 6), 42, "10.0.0.1", None]
    trap = ForwardedTrap(
        ne="r1",
        via="a2",
        source=("127.0.0.5", 162),
        version="2c",
        trap_oid=(1, 3, 6, 1, 6, 3, 1, 1, 5, 3),
        uptime=100,
        varbinds=[((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3), encode_value(v)) for v in values],
        received=1.5,
    )
    back = from_args(to_args(trap), ForwardedTrap)
    assert [decode_value(v) for _, v in back.varbinds] == values
    with pytest.raises(PoolWireError):
        decode_value({"hex": "zz"})
    with pytest.raises(PoolWireError):
        from_args(to_args(trap) | {"version": "4"}, ForwardedTrap)
