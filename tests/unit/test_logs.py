"""Log lines: key=value or JSON, and repeated lines held back per NE."""

from __future__ import annotations

import json
import logging

from agent.logs import JsonFormatter, KeyValueFormatter, RateLimit


def record(msg: str, *args: object, ne: str | None = None, level: int = logging.INFO):
    r = logging.LogRecord("agent.poller", level, __file__, 1, msg, args, None)
    if ne is not None:
        r.ne = ne
    return r


def test_repeats_per_ne_are_held_back_and_counted():
    now = [0.0]
    limit = RateLimit(window=300, clock=lambda: now[0])
    assert limit.filter(record("poll failed: %s", "timeout", ne="r1"))
    assert not limit.filter(record("poll failed: %s", "timeout 2", ne="r1"))
    assert limit.filter(record("poll failed: %s", "timeout", ne="r2"))  # another NE shows
    for _ in range(5):
        assert not limit.filter(record("poll failed: %s", "timeout", ne="r1"))
    now[0] = 301.0
    r = record("poll failed: %s", "timeout", ne="r1")
    assert limit.filter(r) and "6 similar lines held back" in r.getMessage()


def test_lines_about_no_ne_are_held_back_only_when_their_text_repeats():
    limit = RateLimit(window=300, clock=lambda: 0.0)
    assert limit.filter(record("managing %d NEs", 10))
    assert limit.filter(record("managing %d NEs", 12))
    assert not limit.filter(record("managing %d NEs", 12))


def test_json_and_key_value_carry_the_context():
    r = record("poll failed", ne="r1")
    doc = json.loads(JsonFormatter("a1").format(r))
    assert doc["ne"] == "r1" and doc["node"] == "a1" and doc["message"] == "poll failed"
    assert KeyValueFormatter("%(message)s").format(r) == "poll failed ne=r1"
