"""The alarm browser tab: severity summary, filter bar, the table, the selected alarm's
details and notes, the acknowledge and note buttons.

Acknowledge and unacknowledge go to ``pool.ack``, notes to ``pool.note`` (any agent routes
them to the NE's owner, which records the name of the console's bus key). A key without
the operator role sees the buttons disabled with the reason: known from the pool's
allow-list at start, or learnt from the agents' "forbidden" answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent.busclient import RequestFailed
from console.alarmdetails import AlarmDetails
from console.alarmlist import COLUMN_INDEX, COLUMNS, SEVERITIES, Rows, filter_of
from console.alarmtable import AlarmTableModel
from console.connection import Post, Snapshot
from console.rowsworker import RowsWorker
from console.theme import SEVERITY_COLOURS
from shared.model import AlarmKey
from shared.notes import MAX_NOTE_CHARS, check_note_text

Request = Callable[..., None]  # Connection.request's shape
_ANY = ""
# Initial widths in widths of an M: readable on a laptop and at 4K alike.
_WIDTH_CHARS = {"severity": 9, "ne": 8, "obj": 8, "type": 11, "text": 30, "raised_at": 1,
                "last_seen": 1, "count": 4, "acked_by": 8, "note_count": 14,
                "agent": 5}  # fmt: skip


class AlarmBrowser(QWidget):
    # console.alarmlist.Rows, each time new rows are shown; ``.standing`` is the pool's whole
    # standing set, worst first (what another view colours NEs by, computed off the GUI).
    rows_changed = Signal(object)

    def __init__(self, request: Request, post: Post, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._request = request
        self.worker = RowsWorker(post, self.show_rows)
        self.model = AlarmTableModel(self.worker.sort)
        self.shown = 0  # Rows shown (tests wait for the next one)
        self._names: dict[int, list[str]] = {}  # the names each filter combo offers
        self.may_ack: bool | None = None  # None: not known yet
        self.reason = ""
        self.last_ack: str = ""  # what the last acknowledgement did (shown, tested)

        self.summary = QWidget()
        row = QHBoxLayout(self.summary)
        row.setContentsMargins(0, 0, 0, 0)
        self.chips: dict[str, QLabel] = {}
        for sev in SEVERITIES:
            chip = QLabel()
            bg, fg = SEVERITY_COLOURS[sev]
            chip.setStyleSheet(
                f"QLabel {{ background: {bg}; color: {fg}; font-weight: bold;"
                " padding: 0.2em 0.8em; border-radius: 0.3em; }"
            )
            self.chips[sev] = chip
            row.addWidget(chip)
        self.totals = QLabel()
        row.addWidget(self.totals, 1)

        bar = QHBoxLayout()
        self.severity = QComboBox()
        self.severity.addItem("All severities", "indeterminate")
        for sev in SEVERITIES[:-1]:
            self.severity.addItem(f"{sev.capitalize()} and worse", sev)
        self.ne = QComboBox()
        self.agent = QComboBox()
        for combo, everything in ((self.ne, "All NEs"), (self.agent, "All agents")):
            combo.addItem(everything, _ANY)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.acked = QComboBox()
        for label, value in (("Acked or not", "any"), ("Unacknowledged", "no"),
                             ("Acknowledged", "yes")):  # fmt: skip
            self.acked.addItem(label, value)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Filter: text, NE, object, type")
        self.text.setClearButtonEnabled(True)
        for w in (self.severity, self.ne, self.agent, self.acked):
            bar.addWidget(w)
            w.currentIndexChanged.connect(self._filter_changed)
        self.text.textChanged.connect(self._filter_changed)
        bar.addWidget(self.text, 1)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionsMovable(True)
        header.setStretchLastSection(False)
        # The text takes what the other columns leave; they start wide enough for their
        # content in the table's (bold) font, whatever the screen's scale.
        bold = QFont(self.table.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        for i, c in enumerate(COLUMNS):
            sample = "2026-12-02 23:59:59" if c.field in ("raised_at", "last_seen") else "M"
            chars = 1 if len(sample) > 1 else _WIDTH_CHARS[c.field]
            header.resizeSection(i, metrics.horizontalAdvance(sample) * chars + metrics.height())
        header.setSectionResizeMode(COLUMN_INDEX["text"], QHeaderView.ResizeMode.Stretch)
        header.setSortIndicator(COLUMN_INDEX["severity"], Qt.SortOrder.DescendingOrder)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self._selected: list[AlarmKey] = []

        actions = QHBoxLayout()
        self.ack_button = QPushButton("&Acknowledge")
        self.ack_button.setShortcut(QKeySequence("Ctrl+K"))
        self.unack_button = QPushButton("&Unacknowledge")
        self.unack_button.setShortcut(QKeySequence("Ctrl+Shift+K"))
        self.ack_button.clicked.connect(lambda: self.acknowledge(undo=False))
        self.unack_button.clicked.connect(lambda: self.acknowledge(undo=True))
        self.note_button = QPushButton("Add &note…")
        self.note_button.clicked.connect(self.ask_note)
        self.note_dialog: QInputDialog | None = None  # open while a note is being written
        self.permission = QLabel()
        self.permission.setWordWrap(True)
        self.feedback = QLabel()
        actions.addWidget(self.ack_button)
        actions.addWidget(self.unack_button)
        actions.addWidget(self.note_button)
        actions.addWidget(self.permission, 1)
        actions.addWidget(self.feedback)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(bar)
        self.details = AlarmDetails(request)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.details)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(scroll)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        layout.addLayout(actions)
        self._update_summary()
        self._update_buttons()

    # -- data -----------------------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def show_snapshot(self, snap: Snapshot) -> None:
        self.worker.feed(snap)  # the rows come back computed, on the GUI thread

    def show_rows(self, rows: Rows) -> None:
        self.model.set_rows(rows)
        self._fill(self.ne, rows.nes)
        self._fill(self.agent, rows.agents)
        self._update_summary()
        self._update_details()
        self.shown += 1
        self.rows_changed.emit(rows)

    def _fill(self, combo: QComboBox, names: list[str]) -> None:
        current = combo.currentData()
        wanted = sorted(set(names) | ({current} - {_ANY}))  # keep a chosen one that went
        if self._names.get(id(combo)) == wanted:  # (a Python list: no conversion to Qt)
            return
        self._names[id(combo)] = wanted
        combo.blockSignals(True)
        try:
            while combo.count() > 1:
                combo.removeItem(1)
            for n in wanted:
                combo.addItem(n, n)
            combo.setCurrentIndex(max(0, combo.findData(current)))
        finally:
            combo.blockSignals(False)

    def _filter_changed(self) -> None:
        f = filter_of(
            min_severity=str(self.severity.currentData()),
            ne=str(self.ne.currentData() or ""),
            agent=str(self.agent.currentData() or ""),
            text=self.text.text()[:200],
            acked=str(self.acked.currentData()),
        )
        self.worker.set_filter(f)

    def _update_summary(self) -> None:
        s = self.model.rows.summary
        for sev, chip in self.chips.items():
            n, new = s.by_severity.get(sev, 0), s.unacked.get(sev, 0)
            chip.setText(f"{sev.upper()}  {n}" + (f"  ({new} new)" if new else ""))
            chip.setToolTip(f"{n} standing {sev} alarm(s), {new} not acknowledged")
        self.totals.setText(f"  {s.total} standing alarms · {s.shown} shown")

    # -- selection ------------------------------------------------------------------------
    def selected_keys(self) -> list[AlarmKey]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.rows.key(r) for r in rows if r < len(self.model.rows)]

    def _remember_selection(self) -> None:
        self._selected = self.selected_keys()

    def _restore_selection(self) -> None:
        sel = self.table.selectionModel()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for key in self._selected:
            row = self.model.rows.row_of(key)
            if row is not None:
                sel.select(self.model.index(row, 0), flags)
        self._update_buttons()

    def _selection_changed(self, *_: Any) -> None:
        self._update_buttons()
        self._update_details()

    def _update_details(self) -> None:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        one = next(iter(rows)) if len(rows) == 1 else None
        shown = self.model.rows.rows
        self.details.show_alarm(shown[one] if one is not None and one < len(shown) else None)

    # -- acknowledging --------------------------------------------------------------------
    def set_permission(self, allowed: bool | None, reason: str = "") -> None:
        self.may_ack, self.reason = allowed, reason
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = bool(self.table.selectionModel().selectedRows())
        allowed = self.may_ack is not False
        for b in (self.ack_button, self.unack_button, self.note_button):
            b.setEnabled(allowed and chosen)
            b.setToolTip("" if allowed else self.reason)
        if not allowed:
            self.permission.setText(f"Read-only: {self.reason}")
        else:
            self.permission.setText("" if chosen else "Select alarms to acknowledge or note")

    def acknowledge(self, *, undo: bool, keys: list[AlarmKey] | None = None) -> None:
        """(Un)acknowledge the selected alarms (or ``keys``); the answers come back on the
        GUI thread."""
        if self.may_ack is False:
            return
        self._on_each("pool.ack", keys, {"undo": undo}, lambda k, res: self._acked(k, undo, res))

    def _on_each(
        self,
        op: str,
        keys: list[AlarmKey] | None,
        extra: dict[str, Any],
        done: Callable[[AlarmKey, Any], None],
    ) -> None:
        """One request per alarm (selected, or ``keys``), routed to its owner by the agent."""
        for key in self.selected_keys() if keys is None else keys:
            self._request(
                op,
                {"ne": key.ne, "obj": key.obj, "type": key.type, **extra},
                on_result=lambda res, k=key: done(k, res),
                on_error=lambda err, k=key: self._ack_failed(k, err),
                timeout=5.0,
            )

    def _acked(self, key: AlarmKey, undo: bool, result: Any) -> None:
        who = result.get("acked_by") if isinstance(result, dict) else None
        verb = "unacknowledged" if undo else f"acknowledged as {who or '?'}"
        self.last_ack = f"{key.ne} {key.obj} {key.type}: {verb}"
        self.feedback.setText(self.last_ack)

    def _ack_failed(self, key: AlarmKey, err: Exception) -> None:
        if isinstance(err, RequestFailed) and err.code == "forbidden":
            self.set_permission(False, str(err).split(": ", 1)[-1])
        self.last_ack = f"{key.ne} {key.obj} {key.type}: FAILED: {err}"
        self.feedback.setText(self.last_ack)

    # -- notes ----------------------------------------------------------------------------
    def ask_note(self) -> None:
        """Ask for a note's text (a window-modal dialog that does not block the loop); the
        note goes on the alarms selected when it was asked."""
        keys = self.selected_keys()
        if self.may_ack is False or not keys:
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Add a note")
        target = f"{keys[0]}" if len(keys) == 1 else f"{len(keys)} alarms"
        dialog.setLabelText(f"Note on {target} (one line, at most {MAX_NOTE_CHARS} characters):")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        edit = dialog.findChild(QLineEdit)
        if edit is not None:
            edit.setMaxLength(MAX_NOTE_CHARS)
        dialog.textValueSelected.connect(lambda text: self.write_note(text, keys))
        dialog.finished.connect(lambda _: self._note_dialog_closed(dialog))
        self.note_dialog = dialog
        dialog.open()

    def _note_dialog_closed(self, dialog: QInputDialog) -> None:
        if self.note_dialog is dialog:
            self.note_dialog = None
        dialog.deleteLater()

    def write_note(self, text: str, keys: list[AlarmKey] | None = None) -> None:
        """Send a note on the selected alarms (or ``keys``); a text the agents would refuse
        is refused here, with their words."""
        if self.may_ack is False:
            return
        try:
            checked = check_note_text(text)
        except ValueError as e:
            self.last_ack = f"note not sent: {e}"
            self.feedback.setText(self.last_ack)
            return
        self._on_each("pool.note", keys, {"text": checked}, self._noted)

    def _noted(self, key: AlarmKey, result: Any) -> None:
        n = result.get("note_count") if isinstance(result, dict) else None
        self.last_ack = f"{key.ne} {key.obj} {key.type}: note {n or '?'} added"
        self.feedback.setText(self.last_ack)
        self.details.take_notes(key, int(n or 0), result)
