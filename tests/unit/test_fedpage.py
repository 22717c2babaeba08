"""The generic paging of federated lists (shared/fedpage.py) with the NE states' kind: pages
by NE name put back exactly, through cursors alone too; keys and sizes checked. Also the
event query as bus arguments (the CLI's `emspool events`), and the console's identity from
an agent's ``whoami``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.helpers.hypothesis_profiles  # noqa: F401
from console.options import identity_of
from shared.eventquery import EventQuery
from shared.fedpage import NE_STATES, Merge, PageError, Pages, Snapshot, ne_state_entry, part_page
from shared.model import Severity
from shared.wire import KeyRole


def walk(parts: dict[str, list[str]], limit: int, rebuild: bool) -> list[tuple[str, str]]:
    snaps = {
        n: Snapshot.of(f"{n}:1", (ne_state_entry({"name": ne}, n) for ne in names), 0.0)
        for n, names in parts.items()
    }
    merge = Merge(gen="g", members=dict.fromkeys(parts, ""))
    pages = Pages(NE_STATES.op)
    for _ in range(1000):
        for node, args in merge.wanted(limit).items():
            after = NE_STATES.parse_key(args["after"]) if "after" in args else None
            merge.feed(node, part_page(snaps[node], after, args["limit"]))
        items = merge.take(limit)
        reply = {"items": items, "snapshot": "g", "next": merge.cursor()}
        if pages.add(reply) is None:
            return [(s["name"], s["agent"]) for s in pages.reply()["items"]]
        if rebuild:
            merge = Merge.from_cursor(reply["next"], 0.0, NE_STATES)
    raise AssertionError("no last page")


@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    limit=st.integers(1, 12),
    rebuild=st.booleans(),
)
def test_ne_state_pages_give_every_state_once_by_name(sizes, limit, rebuild):
    # One state per NE on an agent; the same NE on two agents (a handover caught mid-way)
    # is told apart by the agent.
    parts = {f"a{n}": [f"ne{(i * 7 + n) % 31:02d}" for i in range(k)] for n, k in enumerate(sizes)}
    want = sorted((ne, node) for node, names in parts.items() for ne in names)
    assert walk(parts, limit, rebuild) == want


def test_ne_state_keys_and_page_sizes_are_checked():
    assert NE_STATES.parse_key(["sw1", "p1"]) == ("sw1", "p1")
    for bad in (["sw1"], ["sw1", 3], "sw1", None, [-1, 1.0, "a", "b", "c", "d"]):
        with pytest.raises(PageError, match="NE state"):
            NE_STATES.parse_key(bad)
    assert NE_STATES.limit({}) == 500 and NE_STATES.limit({"limit": 2000}) == 2000
    for bad in (0, 2001, True, "5"):
        with pytest.raises(PageError, match="limit"):
            NE_STATES.limit({"limit": bad})
    with pytest.raises(PageError, match=r"not a cursor of pool\.ne_states"):
        Merge.from_cursor("nope!", 0.0, NE_STATES)


def test_an_event_query_goes_over_the_bus_unchanged():
    assert EventQuery().to_args() == {"order": "newest"}
    q = EventQuery(
        since=10.0, until=20.0, nes=("sw1", "sw2"), min_severity=Severity.MAJOR,
        types=("trap",), alarm_types=("link-down",), agents=("p1",), text="fan",
        newest_first=False,
    )  # fmt: skip
    assert EventQuery.from_args(q.to_args()) == q


def test_the_console_takes_its_identity_from_whoami():
    ident = identity_of({"name": "vic", "role": "viewer", "authenticated": True, "node_id": "p2"})
    assert (ident.name, ident.role, ident.source) == ("vic", KeyRole.VIEWER, "agent p2")
    assert ident.may(KeyRole.OPERATOR) is False
    lab = identity_of({"name": "insecure", "role": "agent", "authenticated": False, "node_id": "a"})
    assert lab.role is None and "insecure" in lab.source
    assert identity_of({"authenticated": True, "role": "boss", "name": "x"}).role is None
