"""The pure parts of bus security: roles, the allow-list, key checks, endpoint rotation."""

from __future__ import annotations

import pytest

from agent.bus import _request_id
from agent.busauth import INSECURE, AllowList, Caller, current_caller, set_caller
from agent.busclient import Endpoint, Unreachable, _Rotation
from agent.keys import BusKey, check_public, generate
from shared.errors import ConfigError
from shared.wire import KeyRole


def test_roles_are_ordered_viewer_operator_agent():
    v, o, a = KeyRole.VIEWER, KeyRole.OPERATOR, KeyRole.AGENT
    allowed = {(have, need) for have in (v, o, a) for need in (v, o, a) if have.allows(need)}
    assert allowed == {(v, v), (o, v), (o, o), (a, v), (a, o), (a, a)}


def test_allow_list_takes_only_unrevoked_keys_and_counts_its_changes():
    k1, k2 = generate().public, generate().public
    allow = AllowList([BusKey("alice", k1, KeyRole.OPERATOR, 1.0, None, "")])
    assert allow.get(k1) == Caller("alice", KeyRole.OPERATOR) and allow.get(k2) is None
    v = allow.version
    allow.replace([BusKey("alice", k1, KeyRole.OPERATOR, 1.0, None, "")])
    assert allow.version == v  # the same list: nothing changed
    allow.replace(
        [
            BusKey("alice", k1, KeyRole.OPERATOR, 1.0, 2.0, ""),  # revoked
            BusKey("bob", k2, KeyRole.VIEWER, 1.0, None, ""),
        ]
    )
    assert allow.get(k1) is None and allow.get(k2) == Caller("bob", KeyRole.VIEWER)
    assert allow.version == v + 1 and len(allow) == 1


def test_the_caller_is_per_context_and_nobody_is_insecure_by_default():
    assert current_caller() is INSECURE and not INSECURE.authenticated
    set_caller(Caller("alice", KeyRole.OPERATOR))
    assert current_caller().name == "alice"


@pytest.mark.parametrize(
    "text",
    ["", "short", "x" * 39 + "\\", generate().public[:-1] + "~", generate().secret + "x"],
    ids=["empty", "short", "not-z85", "bad-last-char", "too-long"],  # same on every worker
)
def test_public_keys_are_checked(text):
    with pytest.raises(ConfigError):
        check_public(text)


def test_a_good_public_key_passes_as_is():
    k = generate().public
    assert check_public(f"  {k}\n") == k


def test_the_secret_never_shows_in_a_key_pairs_repr():
    pair = generate()
    assert pair.secret not in repr(pair) and pair.public in repr(pair)


def test_refusals_carry_the_request_id_when_there_is_one():
    assert _request_id(b'{"v": 9, "id": "abc"}') == "abc"
    assert _request_id(b'{"id": 5}') == ""
    assert _request_id(b"\xff garbage") == ""
    assert _request_id(b"[1, 2]") == ""


def test_rotation_tries_every_endpoint_once_keeping_a_working_one_first():
    eps = [Endpoint(f"tcp://127.0.0.1:{7000 + i}") for i in range(5)]
    rot = _Rotation(eps)
    firsts = {rot.order(None)[0] for _ in range(200)}
    assert len(firsts) > 1  # a random agent, not always the first listed
    for _ in range(20):
        order = rot.order(eps[3])
        assert order[0] == eps[3] and sorted(order, key=str) == sorted(eps, key=str)
    assert _Rotation(lambda: eps[:1]).order(None) == eps[:1]  # a callable is re-read
    with pytest.raises(Unreachable):
        _Rotation([]).order(None)
