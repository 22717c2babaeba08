"""The column-walk state machine (agent/snmp/_walk.py) fed by hand: no sockets."""

from __future__ import annotations

import pytest

from agent.snmp._walk import ColumnWalk, WalkLoop

pytestmark = pytest.mark.timeout(10)

REM = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)
NAME = (*REM, 9)  # lldpRemSysName
PORT = (*REM, 7)  # lldpRemPortId
END = object()  # endOfMibView


def _is_end(v: object) -> bool:
    return v is END


def _same(v: object) -> object:
    return v


def _feed(w: ColumnWalk, varbinds: list[tuple[tuple[int, ...], object]]) -> None:
    w.feed(varbinds, _is_end, _same)  # type: ignore[arg-type]


def _by_port(col: tuple[int, ...]) -> list[tuple[int, ...]]:
    """lldpRemTable rows as an agent serving them by local port returns them: the timemark
    (first index) is when each neighbour was learnt, so it does not grow with the port."""
    return [(*col, tm, port, 1) for tm, port in ((8340, 1), (2460, 2), (8337, 3), (8336, 4))]


def test_out_of_order_table_is_read_whole_sorted_and_counted() -> None:
    w = ColumnWalk([NAME, PORT], max_rows=100)
    names, ports = _by_port(NAME), _by_port(PORT)
    # GETBULK, 2 columns x 2 repetitions, row-major; then from the last OIDs returned.
    _feed(w, [(names[0], b"a"), (ports[0], b"p1"), (names[1], b"b"), (ports[1], b"p2")])
    assert w.next_oids() == [names[1], ports[1]]  # goes on from where the agent is
    _feed(w, [(names[2], b"c"), (ports[2], b"p3"), (names[3], b"d"), (ports[3], b"p4")])
    _feed(w, [((*REM, 10, 1), b"x"), (NAME, END)])
    assert w.done
    result = w.result()
    assert [o for o, _ in result[NAME]] == sorted(names)
    assert dict(result[NAME]) == dict(zip(names, [b"a", b"b", b"c", b"d"], strict=True))
    # 8340 -> 2460 is one step back, 8337 -> 8336 another: two per column.
    assert result.out_of_order == {NAME: 2, PORT: 2}


def test_in_order_walk_reports_nothing() -> None:
    w = ColumnWalk([NAME], max_rows=10)
    _feed(w, [((*NAME, 0, 1, 1), b"a"), ((*NAME, 0, 2, 1), b"b"), ((*NAME, 0, 3, 1), b"c")])
    _feed(w, [((*REM, 10, 1), b"x")])
    assert w.result().out_of_order == {}


def test_a_repeated_oid_is_still_a_loop() -> None:
    # The agent answers the same two rows for ever: the strict protection stays.
    w = ColumnWalk([NAME], max_rows=100)
    _feed(w, [((*NAME, 1), b"a"), ((*NAME, 2), b"b")])
    with pytest.raises(WalkLoop, match="loops"):
        _feed(w, [((*NAME, 1), b"a"), ((*NAME, 2), b"b")])


def test_a_repeat_after_going_out_of_order_even_if_increasing_is_a_loop() -> None:
    # 5, 3, 4, then 5 again: 5 > 4 increases, but 5 was seen: a cycle of length 3.
    w = ColumnWalk([NAME], max_rows=100)
    _feed(w, [((*NAME, 5), 1), ((*NAME, 3), 2), ((*NAME, 4), 3)])
    with pytest.raises(WalkLoop, match="loops"):
        _feed(w, [((*NAME, 5), 1)])


def test_the_same_oid_twice_in_a_row_is_no_progress() -> None:
    w = ColumnWalk([NAME], max_rows=100)
    _feed(w, [((*NAME, 7), 1)])
    with pytest.raises(WalkLoop):
        _feed(w, [((*NAME, 7), 1)])


def test_strict_walk_refuses_any_non_increasing_oid() -> None:
    w = ColumnWalk([NAME], max_rows=100, strict=True)
    with pytest.raises(WalkLoop, match="not increasing"):
        _feed(w, [((*NAME, 5), 1), ((*NAME, 3), 2)])


def test_an_agent_inventing_new_oids_is_bounded_by_max_rows() -> None:
    # Never a repeat, always out of order: max_rows still ends it.
    w = ColumnWalk([NAME], max_rows=50)
    with pytest.raises(WalkLoop, match="more than 50 rows"):
        for k in range(1000):
            _feed(w, [((*NAME, 10_000 - k if k % 2 else k), k)])


def test_columns_keep_their_own_order_state() -> None:
    w = ColumnWalk([NAME, PORT], max_rows=100)
    _feed(w, [((*NAME, 2), 1), ((*PORT, 1), 1), ((*NAME, 1), 2), ((*PORT, 2), 2)])
    _feed(w, [((*REM, 10), 0), ((*REM, 8), 0)])
    assert w.done and w.result().out_of_order == {NAME: 1}
