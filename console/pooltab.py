"""The pool tab: every agent with its state, the master and epoch, NEs assigned (database)
and polled (live), standing alarms, poll counters, and which agents answered the last
federated requests. Refreshed every ``every`` seconds through the connection, with
``db.pool`` (peered: the database's picture) and ``pool.health`` (federated: each agent's
memory); the joining is console/poolstate.py. Members joining and leaving come live too
(the master's ``agent`` messages through the connection's snapshots): said at once, and the
table refreshed then rather than at the next round."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.connection import Snapshot
from console.poolstate import COLUMNS, HISTORY_COLUMNS, MASTER_QUERY, PoolState

Request = Callable[..., None]
HISTORY_EVERY = 5  # refreshes between reads of the master changes (10 s at the default)
_STATE_COLOURS = {"master": "#2e7d32", "follower": "#1565c0", "starting": "#f9a825",
                  "dead": "#c62828"}  # fmt: skip


class PoolTab(QWidget):
    def __init__(self, request: Request, every: float = 2.0, parent: QWidget | None = None):
        super().__init__(parent)
        self._request = request
        self.state = PoolState()
        self.replies = 0  # answers taken (the screenshot mode waits for the first)
        self._sized = False
        self.headline = QLabel()
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.25)
        big.setBold(True)
        self.headline.setFont(big)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.answers = QLabel()
        self.answers.setWordWrap(True)
        # Failovers over time, from the event log (peered): they outlive every agent.
        self.history_title = QLabel()
        self.history = QTableWidget(0, len(HISTORY_COLUMNS))
        self.history.setHorizontalHeaderLabels(list(HISTORY_COLUMNS))
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.verticalHeader().setVisible(False)
        self.history.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.answers)
        layout.addWidget(self.history_title)
        layout.addWidget(self.history, 1)
        self._rounds = 0
        self.timer = QTimer(self)
        self.timer.setInterval(int(every * 1000))
        self.timer.timeout.connect(self.refresh)
        self._render()

    def keep_widths(self) -> None:
        """The columns have remembered widths: do not fit them to the first rows."""
        self._sized = True

    def start(self) -> None:
        self.refresh()
        self.timer.start()

    def refresh(self) -> None:
        self._request("db.pool", {}, on_result=self._db_pool, on_error=self._failed, timeout=3.0)
        if self._rounds % HISTORY_EVERY == 0:
            self._request(
                "events.search", MASTER_QUERY, on_result=self._history, on_error=self._failed,
                timeout=5.0,
            )  # fmt: skip
        self._rounds += 1
        self._request(
            "pool.health", {"deadline": 1.0}, on_result=self._health, on_error=self._failed,
            timeout=3.0,
        )  # fmt: skip

    def show_snapshot(self, snap: Snapshot) -> None:
        render = False
        if (snap.answered, snap.missing) != (self.state.alarms_answered, self.state.alarms_missing):
            self.state.alarms_answered, self.state.alarms_missing = snap.answered, snap.missing
            render = True
        st = self.state
        live = (snap.members, snap.master, snap.epoch)
        if live != (st.live_members, st.live_master, st.live_epoch) or snap.joined or snap.left:
            at = time.strftime("%H:%M:%S", time.localtime(snap.taken))
            if st.members_changed(*live, snap.joined, snap.left, at):
                self.refresh()  # a member joined or left: its row now, not at the next round
            render = True
        if render:
            self._render()

    def _db_pool(self, reply: Any) -> None:
        self.state.db_pool, self.state.error = reply, ""
        self.replies += 1
        self._render()

    def _health(self, reply: Any) -> None:
        self.state.health, self.state.error = reply, ""
        self.replies += 1
        self._render()

    def _history(self, reply: Any) -> None:
        self.state.master_events = list((reply or {}).get("events") or [])
        rows = self.state.history()
        self.history_title.setText(
            f"Master changes (event log): {self.state.failovers()} masters in the last "
            f"{len(rows)} changes"
            if rows
            else "Master changes (event log): none logged yet"
        )
        self.history.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.history.setItem(r, c, QTableWidgetItem(text))
        self.history.resizeColumnsToContents()

    def _failed(self, err: Exception) -> None:
        self.state.error = str(err)
        self._render()

    def _render(self) -> None:
        self.headline.setText(self.state.headline())
        rows = self.state.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                if c == 1:
                    colour = _STATE_COLOURS.get(text)
                    item.setForeground(QColor(colour) if colour else self.palette().text())
                    bold = item.font()
                    bold.setBold(True)
                    item.setFont(bold)
                elif c == 11 and text.startswith("NO"):
                    item.setForeground(QColor(_STATE_COLOURS["dead"]))
        self.answers.setText("\n".join(self.state.answers()))
        if rows and not self._sized:  # fitted to the first full answer, then the user's
            self._sized = self.state.db_pool is not None and self.state.health is not None
            self.table.resizeColumnsToContents()
