"""The column-walk state machine behind walk()/walk_many(): no I/O, no pysnmp.

Several subtrees ("columns") are walked in the same GETBULK/GETNEXT requests, like
``snmpbulkwalk`` of a table by columns. A GETBULK answer with N requested varbinds and
non-repeaters = 0 is row-major: varbind i belongs to column i mod N. Each column stops on its
own when it leaves its subtree or hits endOfMibView.

Non-increasing OIDs: some real agents serve a table in their own internal order rather than
in OID order (e.g. an lldpRemTable indexed by lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex
served port by port, so a neighbour learnt earlier on a higher port comes back after a later
one on a lower port). Like ``snmpwalk -Cc``, the walk then goes on from the OID the agent
returned, but with a cycle guard net-snmp's option lacks: once a column went out of order,
every OID it returns must be new, or the agent loops and the walk is an error. The rows of
such a column are sorted at the end and the number of out-of-order steps is reported, so the
caller can tell the NOC. ``max_rows`` bounds every column, so a walk always ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .types import Oid, SnmpValue

Rows = list[tuple[Oid, SnmpValue]]


class WalkLoop(Exception):
    """The agent broke the walk contract (a repeated OID, too many rows, no progress)."""


class WalkResult(dict[Oid, Rows]):
    """walk_many()'s answer: the rows under each root, in OID order, plus ``out_of_order``:
    for each root whose agent returned non-increasing OIDs, how many times it did."""

    __slots__ = ("out_of_order",)

    def __init__(self, rows: dict[Oid, Rows], out_of_order: dict[Oid, int]) -> None:
        super().__init__(rows)
        self.out_of_order = out_of_order


class ColumnWalk:
    def __init__(self, roots: Sequence[Oid], *, max_rows: int, strict: bool = False) -> None:
        if not roots:
            raise ValueError("walk needs at least one root OID")
        self.roots: list[Oid] = [tuple(r) for r in roots]
        self.max_rows = max_rows
        self.strict = strict  # True: any non-increasing OID is an error (no -Cc tolerance)
        self.rows: list[Rows] = [[] for _ in self.roots]
        self.out_of_order: list[int] = [0] * len(self.roots)
        self._last: list[Oid] = list(self.roots)
        self._active: list[int] = list(range(len(self.roots)))
        # OIDs seen so far, kept only for columns that went out of order (the cycle guard):
        # while OIDs increase no OID can repeat, so the common case pays nothing for it.
        self._seen: dict[int, set[Oid]] = {}

    @property
    def done(self) -> bool:
        return not self._active

    def next_oids(self) -> list[Oid]:
        """OIDs to put in the next request, one per column still walking, in column order."""
        return [self._last[c] for c in self._active]

    def finish_position(self, position: int) -> None:
        """Stop the column at ``position`` in the last request (SNMPv1 noSuchName at its end)."""
        del self._active[position]

    def feed(
        self,
        varbinds: Sequence[tuple[Oid, Any]],
        is_end: Callable[[Any], bool],
        convert: Callable[[Any], SnmpValue],
    ) -> None:
        """Consume one response to the request built from next_oids()."""
        active = self._active
        width = len(active)
        if not varbinds:
            raise WalkLoop("empty response to a walk request")
        finished: set[int] = set()
        roots, last, rows, seen = self.roots, self._last, self.rows, self._seen
        for i, (oid, raw) in enumerate(varbinds):
            position = i % width
            if position in finished:
                continue
            column = active[position]
            root = roots[column]
            if is_end(raw) or oid[: len(root)] != root:
                finished.add(position)
                continue
            if oid <= last[column]:
                self._out_of_order(column, oid)
            elif column in seen:
                if oid in seen[column]:
                    raise WalkLoop(f"OID not increasing in column {column}: the agent loops")
                seen[column].add(oid)
            last[column] = oid
            column_rows = rows[column]
            column_rows.append((oid, convert(raw)))
            if len(column_rows) > self.max_rows:
                raise WalkLoop(f"more than {self.max_rows} rows under one root")
        if finished:
            self._active = [c for p, c in enumerate(active) if p not in finished]

    def _out_of_order(self, column: int, oid: Oid) -> None:
        if self.strict:
            raise WalkLoop(f"OID not increasing in column {column}")
        seen = self._seen.get(column)
        if seen is None:
            seen = self._seen[column] = {o for o, _ in self.rows[column]}
        if oid in seen:
            raise WalkLoop(f"OID not increasing in column {column}: the agent loops")
        seen.add(oid)
        self.out_of_order[column] += 1

    def result(self) -> WalkResult:
        """Rows per root (each in OID order) and the out-of-order counts, once done."""
        out_of_order: dict[Oid, int] = {}
        for column, count in enumerate(self.out_of_order):
            if count:
                self.rows[column].sort(key=lambda row: row[0])
                out_of_order[self.roots[column]] = count
        return WalkResult(dict(zip(self.roots, self.rows, strict=True)), out_of_order)
