"""The console's Qt-free view states: the event log's filter request, pages back and forth by
cursor, CSV rows a spreadsheet cannot take for formulas; NE details escaped and complete."""

from __future__ import annotations

import csv
import io

from console.eventlog import CSV_HEADER, PAGE, EventFilter, EventPages, csv_row, write_csv


def ev(i: int, text: str = "x") -> dict:
    return {"id": f"id{i}", "time": 1_700_000_000 + i, "ne": "sw1", "type": "alarm-raised",
            "severity": "major", "text": text, "agent": "a1", "obj": "", "alarm_type": "t"}  # fmt: skip


def test_filter_becomes_the_search_arguments():
    assert EventFilter().args() == {"order": "newest"}
    f = EventFilter(since=10.0, until=20.0, ne=" sw1 ", min_severity="major", text=" down ")
    assert f.args() == {"order": "newest", "since": 10.0, "until": 20.0, "ne": "sw1",
                        "min_severity": "major", "text": "down"}  # fmt: skip


def test_pages_go_forward_by_cursor_and_back_without_asking():
    p = EventPages()
    assert p.start(EventFilter(ne="sw1")) == {"order": "newest", "ne": "sw1", "limit": PAGE}
    p.take({"events": [ev(1), ev(2)], "next_cursor": "c1"})
    assert p.position() == "page 1: rows 1-2" and p.can_forward() and not p.can_back()
    ask = p.forward()
    assert ask == {"order": "newest", "ne": "sw1", "limit": PAGE, "cursor": "c1"}
    p.take({"events": [ev(3)], "next_cursor": None})
    assert p.position() == "page 2: rows 3-3 (end)" and not p.can_forward()
    p.back()
    assert [e["id"] for e in p.shown] == ["id1", "id2"]
    assert p.forward() is None  # held already: no request
    assert [e["id"] for e in p.shown] == ["id3"]
    p.start(EventFilter())
    assert p.pages == [] and p.position() == "no search yet"


def test_csv_has_a_header_and_keeps_formulas_as_text():
    out = io.StringIO()
    assert write_csv(out, [ev(1, "=HYPERLINK(evil)"), ev(2, "plain, with comma")], True) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == CSV_HEADER
    assert rows[1][CSV_HEADER.index("Text")] == "'=HYPERLINK(evil)"
    assert rows[2][CSV_HEADER.index("Text")] == "plain, with comma"
    assert csv_row(ev(3))[0] == str(1_700_000_003) and csv_row(ev(3))[-1] == "id3"


def test_ne_details_escape_device_strings_and_name_missing_parts():
    from console.nedetails import details_html

    live = {
        "agent": "a1",
        "state": {
            "reachable": True, "sys_descr": "<script>x</script>", "sys_uptime": 8640000,
            "interfaces": [{"index": 1, "name": "ge<0>", "admin_up": True, "status": "up",
                            "speed_bps": 1e9, "in_bps": 1234.0, "out_bps": None}],
            "neighbours": [{"local_port": "ge0", "remote_name": "sw2", "remote_port": "e1"}],
        },
        "alarms": [],
    }  # fmt: skip
    html = details_html("sw1", {"name": "sw1", "owner": "a1", "address": "10.0.0.1"}, live, None,
                        {"events": "request failed: timeout"})  # fmt: skip
    assert "<script>" not in html and "&lt;script&gt;" in html and "ge&lt;0&gt;" in html
    assert "1.0 Gbps" in html and "1.2 kbps" in html and "1 d 00:00" in html
    assert "request failed: timeout" in html  # the part that did not arrive is said
    assert "does not poll" in details_html("sw1", None, {"agent": "a2", "state": None}, [])


def test_agent_messages_reach_the_next_snapshot_once():
    """An agent's ``managed`` message (relayed, stamped) is handed to the views with the
    next snapshot, for the topology to move that agent's NEs at once, and only once."""
    from agent.busclient import AsyncBusClient, Endpoint
    from console.connection import Connection, TrackedLiveAlarms
    from shared.wire import Topic

    nowhere = [Endpoint("tcp://127.0.0.1:9")]  # never connected to
    live = TrackedLiveAlarms(AsyncBusClient(nowhere))
    body = {"managed": ["sw1", "sw2"], "origin": "p2", "run": "r1", "seq": 1}
    live.take(Topic.AGENT, body)
    live.take(Topic.AGENT, {"origin": "p2", "run": "r1", "seq": 2, "state": "x"})  # not managed
    conn = Connection(nowhere, None, lambda fn: None)
    conn._live = live
    assert conn.snapshot().agents == [("p2", body)]
    assert conn.snapshot().agents == []
