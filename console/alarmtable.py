"""The alarm browser's ``QAbstractTableModel``: a thin adapter over the ``Rows`` that
console/rowsworker.py computes (rows, sort and filter live there, off the GUI thread); Qt
only adds colours, fonts and alignment. A header click asks the worker to sort."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont
from typing_extensions import override  # typing's own from Python 3.12

from console.alarmlist import COLUMN_INDEX, COLUMNS, EMPTY, Rows
from console.theme import severity_brushes

Index = QModelIndex | QPersistentModelIndex
_SEVERITY = COLUMN_INDEX["severity"]
_COUNT = COLUMN_INDEX["count"]


class AlarmTableModel(QAbstractTableModel):
    def __init__(self, on_sort: Callable[[int, bool], None]) -> None:
        super().__init__()
        self.rows: Rows = EMPTY
        self.on_sort = on_sort
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {
            sev: tuple(QBrush(c) for c in severity_brushes(sev))
            for sev in ("critical", "major", "minor", "warning", "indeterminate", "cleared")
        }

    def set_rows(self, rows: Rows) -> None:
        """New rows as one model reset (the browser keeps the selection by alarm key)."""
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    @override
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.rows)

    @override
    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    @override
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            text = self.rows.cell(row, col)
            return text.upper() if col == _SEVERITY else text
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.rows.cell(row, col) or None
        if col == _SEVERITY and role in (
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            bg, fg = self._brushes.get(self.rows.severity(row), self._brushes["indeterminate"])
            return bg if role == Qt.ItemDataRole.BackgroundRole else fg
        if role == Qt.ItemDataRole.FontRole and (
            col == _SEVERITY or not self.rows.rows[row].get("acked_by")
        ):
            return self._bold  # unacknowledged alarms stand out
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col == _SEVERITY:
                return Qt.AlignmentFlag.AlignCenter
            if col == _COUNT:
                return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    @override
    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        return None

    @override
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.on_sort(column, order == Qt.SortOrder.DescendingOrder)  # the rows follow
