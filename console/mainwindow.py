"""The console's main window: one tab per view, menus and shortcuts, the status bar (which
agent, connection state, last resync, reattaches, our key as the agent authenticated it),
remembered layout (QSettings).

Views plug in with ``add_view(key, title, widget)``; a view that wants the connection's
snapshots (status, and the alarms that changed) connects to ``snapshot`` (a Qt signal
carrying ``console.connection.Snapshot``, on the GUI thread), one that wants the pool's
whole standing alarm set connects to ``alarms.rows_changed`` (``console.alarmlist.Rows``),
one that reloads on F5 connects to ``refresh``, and one that asks the agents something
calls ``connection.request(op, args, on_result=..., on_error=...)``. ``--screenshot``
renders every view added.
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
import time
from typing import Any

import PySide6
import zmq
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal, qVersion
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)
from typing_extensions import override

from console import theme
from console.alarmbrowser import AlarmBrowser
from console.connection import Connection, Snapshot, State
from console.nedialog import NeDetailsDialog
from console.options import Identity, identity_of
from console.pooltab import PoolTab
from shared.wire import KeyRole

_STATE_COLOURS = {State.ATTACHED: "#2e7d32", State.CONNECTING: "#f9a825",
                  State.UNREACHABLE: "#c62828", State.REFUSED: "#c62828"}  # fmt: skip


_REASONS = {"no snapshot yet": "first snapshot"}  # the live view's words, for an operator


def versions() -> dict[str, str]:
    try:
        ours = importlib.metadata.version("emspool")
    except importlib.metadata.PackageNotFoundError:
        ours = "(not installed)"
    return {
        "emspool": ours,
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "Python": platform.python_version(),
        "pyzmq": f"{zmq.pyzmq_version()} (libzmq {zmq.zmq_version()})",
    }


class MainWindow(QMainWindow):
    snapshot = Signal(object)  # console.connection.Snapshot, on the GUI thread
    refresh = Signal()

    def __init__(self, connection: Connection, settings: QSettings) -> None:
        super().__init__()
        self.connection = connection
        self.settings = settings
        self.last: Snapshot | None = None
        self.identity: Identity | None = None
        self._whoami_of = ""  # the agent last asked who our key is
        self.screenshot: object = None  # console/screenshot.py's timer, when asked for
        self.topology_feed: Any = None  # console/topotab.py's feed, with a topology tab
        self.setWindowTitle("emspool console")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.views: dict[str, QWidget] = {}
        self.dialogs: list[NeDetailsDialog] = []

        self.alarms = AlarmBrowser(connection.request, connection.post)
        self.pool = PoolTab(connection.request)
        self.add_view("alarms", "&Alarms", self.alarms)
        self.alarms.table.doubleClicked.connect(self._alarm_double_clicked)
        self.add_view("pool", "&Pool", self.pool)
        self.snapshot.connect(self.alarms.show_snapshot)
        self.snapshot.connect(self.pool.show_snapshot)
        self.refresh.connect(self.pool.refresh)
        self.refresh.connect(connection.resync)

        self._status_labels()
        self._menus()
        self._restore()
        connection.on_snapshot = self._on_snapshot

    def start(self) -> None:
        """Connect, and start the views' workers and timers."""
        self.alarms.start()
        self.connection.start()
        self.pool.start()

    def stop(self) -> None:
        self.connection.stop()
        self.alarms.stop()

    # -- views ----------------------------------------------------------------------------
    def add_view(self, key: str, title: str, widget: QWidget) -> None:
        """A tab (``title`` may carry an & shortcut); Ctrl+1.. switch tabs in this order."""
        if key in self.views:
            raise ValueError(f"a view {key!r} is there already")
        self.views[key] = widget
        self.tabs.addTab(widget, title)

    def show_view(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.views[key])

    # -- the connection -------------------------------------------------------------------
    def _on_snapshot(self, snap: Snapshot) -> None:
        self.last = snap
        colour = _STATE_COLOURS.get(snap.state, "#c62828")
        why = f": {html.escape(snap.detail[:90])}" if snap.detail else ""  # full one: tooltip
        self.state_label.setText(f"<b style='color:{colour}'>● {snap.state}</b>{why}")
        self.state_label.setToolTip(snap.detail or snap.state)
        node = snap.node or "?"
        self.agent_label.setText(f"Agent: <b>{node}</b> {snap.endpoint}")
        at = time.strftime("%H:%M:%S", time.localtime(snap.last_resync or None))
        at = at if snap.last_resync else "-"
        missing = f" · PARTIAL: {', '.join(sorted(snap.missing))} missing" if snap.missing else ""
        reason = _REASONS.get(snap.last_reason, snap.last_reason) or "-"
        self.resync_label.setText(f"Resync: {at} ({reason}){missing}")
        self.reattach_label.setText(f"Reattaches: {snap.reattaches}")
        if snap.current and snap.node and snap.node != self._whoami_of:
            # The agent's word on our key beats the database's (which may be unreadable
            # from here); an agent too old to answer leaves the database's in place.
            self._whoami_of = snap.node
            self.connection.request("whoami", {}, on_result=self._whoami, on_error=lambda _e: None)
        self.snapshot.emit(snap)

    def _whoami(self, reply: Any) -> None:
        self.set_identity(identity_of(reply))

    def set_identity(self, ident: Identity) -> None:
        """Our key's name and role (from the pool's allow-list): the ack and note buttons
        follow."""
        self.identity = ident
        role = ident.role.value if ident.role is not None else "role unknown"
        self.key_label.setText(f"Key: {ident.name or '?'} ({role})")
        self.key_label.setToolTip(f"from {ident.source}")
        if ident.may(KeyRole.OPERATOR) is False:
            assert ident.role is not None
            self.alarms.set_permission(
                False,
                f"key {ident.name!r} has the {ident.role.value} role; acknowledging and "
                f"notes need {KeyRole.OPERATOR.value}",
            )

    def _status_labels(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel(State.CONNECTING)
        self.agent_label = QLabel("Agent: -")
        self.resync_label = QLabel("Resync: -")
        self.reattach_label = QLabel("Reattaches: 0")
        self.key_label = QLabel("Key: -")
        for w in (self.state_label, self.agent_label, self.resync_label, self.reattach_label,
                  self.key_label):  # fmt: skip
            w.setTextFormat(Qt.TextFormat.RichText)
            bar.addPermanentWidget(w)

    # -- menus ----------------------------------------------------------------------------
    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        quit_ = QAction("&Quit", self)
        quit_.setShortcut(QKeySequence.StandardKey.Quit)
        quit_.triggered.connect(self.close)
        file.addAction(quit_)

        view = self.menuBar().addMenu("&View")
        refresh = QAction("&Refresh", self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh.emit)
        view.addAction(refresh)
        view.addSeparator()
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name in theme.THEMES:
            act = QAction(f"{name.capitalize()} theme", self, checkable=True)
            act.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(act)
            view.addAction(act)
            self.theme_actions[name] = act
        details = QAction("NE &details…", self)
        details.setShortcut(QKeySequence("Ctrl+D"))
        details.triggered.connect(self.ask_ne_details)
        view.addAction(details)
        view.addSeparator()
        for i in range(9):
            act = QAction(f"Tab {i + 1}", self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, k=i: self.tabs.setCurrentIndex(k))
            self.addAction(act)  # shortcuts without cluttering the menu

        help_ = self.menuBar().addMenu("&Help")
        about = QAction("&About emspool console", self)
        about.triggered.connect(self.about)
        help_.addAction(about)

    def _alarm_double_clicked(self, index: Any) -> None:
        row = self.alarms.model.rows.rows[index.row()] if index.isValid() else None
        if row is not None:
            self.ne_details(str(row.get("ne", "")))

    def ne_details(self, name: str) -> NeDetailsDialog:
        """The details window of NE ``name`` (inventory, the owner's live state, alarms,
        recent events), kept until closed."""
        dialog = NeDetailsDialog(self.connection.request, name, self)
        dialog.show()
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [dialog]
        return dialog

    def ask_ne_details(self) -> None:
        keys = self.alarms.selected_keys()
        name, ok = QInputDialog.getText(
            self, "NE details", "NE name:", text=keys[0].ne if keys else ""
        )
        if ok and name.strip():
            self.ne_details(name.strip())

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        theme.apply(app, name)
        self.theme_actions[name].setChecked(True)
        self.settings.setValue("theme", name)

    def about_text(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in versions().items())
        return (
            "<h3>emspool console</h3><p>The operator console of an emspool pool of element "
            f"management agents.</p><table>{rows}</table>"
        )

    def about(self) -> None:
        QMessageBox.about(self, "About emspool console", self.about_text())

    # -- remembered layout ----------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = QApplication.primaryScreen()
            size = screen.availableGeometry().size() * 0.8 if screen else None
            self.resize(size if size is not None else self.sizeHint())
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for key, header in self._headers().items():
            saved = s.value(f"columns/{key}")
            if isinstance(saved, QByteArray) and header.restoreState(saved) and key == "pool":
                self.pool.keep_widths()
        theme_name = str(s.value("theme", "dark"))
        self.set_theme(theme_name if theme_name in theme.THEMES else "dark")
        self.tabs.setCurrentIndex(int(str(s.value("window/tab", 0) or 0)))

    def _headers(self) -> dict[str, QHeaderView]:
        return {
            "alarms": self.alarms.table.horizontalHeader(),
            "pool": self.pool.table.horizontalHeader(),
        }

    def save_layout(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        for key, header in self._headers().items():
            s.setValue(f"columns/{key}", header.saveState())
        s.sync()

    @override
    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.stop()
        super().closeEvent(event)
