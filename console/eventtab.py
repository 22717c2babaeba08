"""The event log tab: the peered ``events.search`` (any agent answers from the database)
with a time range, NE, minimum severity and text filter; keyset pages back and forth;
the counts by severity of the filter (``events.counts``); export of every matching row
(at most console.eventlog.EXPORT_MAX) to CSV, page by page, without blocking the window.
The state is console/eventlog.py (no Qt)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.eventlog import (
    COLUMNS,
    EXPORT_MAX,
    EXPORT_PAGE,
    RANGES,
    EventFilter,
    EventPages,
    write_csv,
)
from console.theme import severity_brushes
from shared.model import Severity

Request = Callable[..., None]
Index = QModelIndex | QPersistentModelIndex
_HEADERS = list(COLUMNS)
_SHOW = list(COLUMNS.values())


class EventModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def set_events(self, events: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.events = events
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.events)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS[section]
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        e = self.events[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _SHOW[index.column()](e)
        if _HEADERS[index.column()] == "Severity":
            bg, fg = severity_brushes(str(e.get("severity", "")))
            if role == Qt.ItemDataRole.BackgroundRole:
                return bg
            if role == Qt.ItemDataRole.ForegroundRole:
                return fg
        return None


class EventLogTab(QWidget):
    def __init__(self, request: Request, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._request = request
        self.state = EventPages()
        self.replies = 0
        self.model = EventModel()
        self.range = QComboBox()
        self.range.addItems(list(RANGES))
        self.range.setCurrentText("Last 24 hours")
        self.ne = QLineEdit()
        self.ne.setPlaceholderText("NE")
        self.severity = QComboBox()
        self.severity.addItems(["Any severity", *(s.label for s in reversed(Severity))])
        self.text = QLineEdit()
        self.text.setPlaceholderText("Text (substring, any case)")
        self.search_button = QPushButton("&Search")
        self.back_button = QPushButton("◀ Newer")
        self.forward_button = QPushButton("Older ▶")
        self.export_button = QPushButton("Export &CSV…")
        self.position = QLabel()
        self.counts = QLabel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(_HEADERS.index("Text"), QHeaderView.ResizeMode.Stretch)
        bar = QHBoxLayout()
        for w in (self.range, self.ne, self.severity, self.text, self.search_button):
            bar.addWidget(w)
        bar.setStretchFactor(self.text, 1)
        nav = QHBoxLayout()
        nav.addWidget(self.back_button)
        nav.addWidget(self.forward_button)
        nav.addWidget(self.position)
        nav.addStretch(1)
        nav.addWidget(self.counts)
        nav.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addLayout(nav)
        self.search_button.clicked.connect(self.search)
        for edit in (self.ne, self.text):
            edit.returnPressed.connect(self.search)
        self.back_button.clicked.connect(self.back)
        self.forward_button.clicked.connect(self.forward)
        self.export_button.clicked.connect(self._ask_export)
        self._export: _Export | None = None
        self._searched = False
        self._update()

    # -- searching ------------------------------------------------------------------------
    def current_filter(self) -> EventFilter:
        back = RANGES[self.range.currentText()]
        sev = self.severity.currentText()
        return EventFilter(
            since=None if back is None else time.time() - back,
            ne=self.ne.text(),
            min_severity="" if sev == "Any severity" else sev,
            text=self.text.text(),
        )

    def search_once_attached(self, snap: Any) -> None:
        """The first search, when the connection has a first snapshot (an agent answers)."""
        if not self.state.pages and not self._searched and getattr(snap, "current", False):
            self.search()

    def search(self) -> None:
        self._searched = True
        f = self.current_filter()
        args = self.state.start(f)
        self.position.setText("searching…")
        self._request("events.search", args, on_result=self._page, on_error=self._failed)
        self._request("events.counts", f.args(), on_result=self._counts, on_error=self._failed)

    def _page(self, reply: Any) -> None:
        self.replies += 1
        self.state.take(reply)
        self._update()
        if self.replies == 1:  # the first rows size the columns; the user's widths stay after
            self.table.resizeColumnsToContents()

    def _counts(self, reply: Any) -> None:
        by = reply.get("by_severity") or {}
        parts = [
            f"{s.upper()} {by[s]:,}" for s in (x.label for x in reversed(Severity)) if by.get(s)
        ]
        self.counts.setText(f"{int(reply.get('total') or 0):,} events: " + ", ".join(parts))

    def _failed(self, error: Exception) -> None:
        self.position.setText(f"<span style='color:#e5322d'>request failed: {error}</span>")

    def back(self) -> None:
        self.state.back()
        self._update()

    def forward(self) -> None:
        args = self.state.forward()
        if args is None:
            self._update()
        else:
            self.position.setText("fetching…")
            self._request("events.search", args, on_result=self._page, on_error=self._failed)

    def _update(self) -> None:
        self.model.set_events(self.state.shown)
        self.back_button.setEnabled(self.state.can_back())
        self.forward_button.setEnabled(self.state.can_forward())
        self.export_button.setEnabled(bool(self.state.pages) and self._export is None)
        self.position.setText(self.state.position())

    # -- export ---------------------------------------------------------------------------
    def _ask_export(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export events", "events.csv", "CSV (*.csv)")
        if name:
            self.export_to(Path(name))

    def export_to(self, path: Path, on_done: Callable[[int, bool], None] | None = None) -> None:
        """Every row of the current filter (EXPORT_MAX at most) to ``path``; ``on_done(rows,
        complete)`` when finished."""
        self._export = _Export(self, path, self.state.filter, on_done)
        self._update()
        self._export.next()

    def _export_done(self, rows: int, complete: bool) -> None:
        self._export = None
        more = "" if complete else f" (stopped at {EXPORT_MAX:,} rows)"
        self.position.setText(f"exported {rows:,} rows{more}")
        self.export_button.setEnabled(True)


class _Export:
    """One CSV export in progress: a page asked, written when it comes, the next asked."""

    def __init__(
        self,
        tab: EventLogTab,
        path: Path,
        f: EventFilter,
        on_done: Callable[[int, bool], None] | None,
    ) -> None:
        self.tab, self.filter, self.on_done = tab, f, on_done
        self.out: IO[str] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.rows, self.cursor = 0, None
        self.header = True

    def next(self) -> None:
        args = self.filter.args() | {"limit": EXPORT_PAGE}
        if self.cursor:
            args["cursor"] = self.cursor
        self.tab._request("events.search", args, on_result=self._page, on_error=self._failed)

    def _page(self, reply: Any) -> None:
        events = list(reply.get("events") or [])[: EXPORT_MAX - self.rows]
        self.rows += write_csv(self.out, events, self.header)
        self.header = False
        self.cursor = reply.get("next_cursor")
        if self.cursor and self.rows < EXPORT_MAX:
            self.tab.position.setText(f"exporting… {self.rows:,} rows")
            self.next()
        else:
            self._finish(complete=not self.cursor)

    def _failed(self, error: Exception) -> None:
        self._finish(complete=False)
        self.tab.position.setText(f"<span style='color:#e5322d'>export failed: {error}</span>")

    def _finish(self, complete: bool) -> None:
        self.out.close()
        self.tab._export_done(self.rows, complete)
        if self.on_done is not None:
            self.on_done(self.rows, complete)
