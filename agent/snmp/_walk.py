"""The column-walk state machine behind walk()/walk_many(): no I/O, no pysnmp.

Several subtrees ("columns") are walked in the same GETBULK/GETNEXT requests, like
``snmpbulkwalk`` of a table by columns. A GETBULK answer with N requested varbinds and
non-repeaters = 0 is row-major: varbind i belongs to column i mod N. Each column stops on its
own when it leaves its subtree or hits endOfMibView; a column whose OIDs do not increase means
the agent loops, and that is an error rather than an endless walk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .types import Oid, SnmpValue


class WalkLoop(Exception):
    """The agent broke the walk contract (non-increasing OID, too many rows, no progress)."""


class ColumnWalk:
    def __init__(self, roots: Sequence[Oid], *, max_rows: int) -> None:
        if not roots:
            raise ValueError("walk needs at least one root OID")
        self.roots: list[Oid] = [tuple(r) for r in roots]
        self.max_rows = max_rows
        self.rows: list[list[tuple[Oid, SnmpValue]]] = [[] for _ in self.roots]
        self._last: list[Oid] = list(self.roots)
        self._active: list[int] = list(range(len(self.roots)))

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
        roots, last, rows = self.roots, self._last, self.rows
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
                raise WalkLoop(f"OID not increasing in column {column}")
            last[column] = oid
            column_rows = rows[column]
            column_rows.append((oid, convert(raw)))
            if len(column_rows) > self.max_rows:
                raise WalkLoop(f"more than {self.max_rows} rows under one root")
        if finished:
            self._active = [c for p, c in enumerate(active) if p not in finished]
