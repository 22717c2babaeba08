"""The alarm browser's ``QAbstractTableModel``: a thin adapter over console/alarmlist.py
(rows, sort and filter live there); Qt only adds colours, fonts and alignment."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont
from typing_extensions import override  # typing's own from Python 3.12

from console.alarmlist import COLUMN_INDEX, COLUMNS, AlarmList
from console.theme import severity_brushes

Index = QModelIndex | QPersistentModelIndex
_SEVERITY = COLUMN_INDEX["severity"]
_COUNT = COLUMN_INDEX["count"]


class AlarmTableModel(QAbstractTableModel):
    def __init__(self, alarms: AlarmList | None = None) -> None:
        super().__init__()
        self.alarms = alarms or AlarmList()
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {
            sev: tuple(QBrush(c) for c in severity_brushes(sev))
            for sev in ("critical", "major", "minor", "warning", "indeterminate", "cleared")
        }

    def reset_with(self, change: Any, *args: Any) -> None:
        """Apply ``change(*args)`` to the list (replace, filter, sort) as one model reset."""
        self.beginResetModel()
        try:
            change(*args)
        finally:
            self.endResetModel()

    @override
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.alarms)

    @override
    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    @override
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            text = self.alarms.cell(row, col)
            return text.upper() if col == _SEVERITY else text
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.alarms.cell(row, col) or None
        if col == _SEVERITY and role in (
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            bg, fg = self._brushes.get(self.alarms.severity(row), self._brushes["indeterminate"])
            return bg if role == Qt.ItemDataRole.BackgroundRole else fg
        if role == Qt.ItemDataRole.FontRole and (
            col == _SEVERITY or not self.alarms.rows[row].get("acked_by")
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
        # A reset, not a layout change: the browser keeps the selection by alarm key.
        self.reset_with(self.alarms.sort, column, order == Qt.SortOrder.DescendingOrder)
