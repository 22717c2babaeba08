"""Calls from the connection's thread onto the GUI thread: a queued Qt signal carrying the
callable (the receiver lives on the GUI thread, so Qt queues the call there)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot


class GuiPoster(QObject):
    """``post(fn)`` from any thread: ``fn()`` runs soon on the thread owning this object."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], None]) -> None:
        self._call.emit(fn)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        fn()
