"""The alarm browser's worker: keeps the ``AlarmList`` and computes its ``Rows`` on a thread
of its own, so that sorting and filtering 50,000 alarms never runs on the GUI thread.

Inputs (the connection's snapshots, the user's filter and sort) queue up in order and are
all applied; the rows are computed once the GUI took the previous ones, from everything
that arrived until then (a burst costs one computation, not one per input), and after a
long computation the worker rests as long as it took. No Qt here.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from console.alarmlist import AlarmList, Rows
from console.connection import Post, Snapshot
from shared.federated import AlarmFilter

Op = Callable[[AlarmList], None]
MIN_REST = 0.02  # computations shorter than this need no rest after them


class RowsWorker:
    def __init__(self, post: Post, on_rows: Callable[[Rows], None]) -> None:
        self._post = post
        self.on_rows = on_rows
        self._ops: list[Op] = []
        self._cond = threading.Condition()
        self._taken = threading.Event()
        self._taken.set()
        self._stopping = False
        self._wake = threading.Event()  # set when stopping: cuts a rest short
        self._thread: threading.Thread | None = None
        self.computed = 0  # Rows handed to the GUI (tests and the benchmark read it)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emspool-rows", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._taken.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- inputs (any thread) --------------------------------------------------------------
    def feed(self, snap: Snapshot) -> None:
        """A connection snapshot: the whole set, or what changed since the last one."""
        if snap.full:
            self._queue(lambda lst: lst.replace(snap.alarms))
        elif snap.alarms or snap.removed:
            self._queue(lambda lst: lst.apply(snap.alarms, snap.removed))

    def set_filter(self, f: AlarmFilter) -> None:
        self._queue(lambda lst: lst.set_filter(f))

    def sort(self, column: int, descending: bool) -> None:
        self._queue(lambda lst: lst.sort(column, descending))

    def _queue(self, op: Op) -> None:
        with self._cond:
            self._ops.append(op)
            self._cond.notify()

    # -- the thread -----------------------------------------------------------------------
    def _take_ops(self, lst: AlarmList, wait: bool) -> bool:
        with self._cond:
            while wait and not self._ops and not self._stopping:
                self._cond.wait()
            ops, self._ops = self._ops, []
        for op in ops:
            op(lst)
        return not self._stopping

    def _run(self) -> None:
        lst = AlarmList()
        while self._take_ops(lst, wait=True):
            while not self._taken.wait(0.1):  # the GUI has not shown the last rows yet
                if self._stopping:
                    return
            if not self._take_ops(lst, wait=False):  # and what came in meanwhile
                return
            t0 = time.monotonic()
            rows = lst.rows()
            took = time.monotonic() - t0
            self._taken.clear()
            self.computed += 1
            self._post(functools.partial(self._deliver, rows))
            # At most half of a core: with 50,000 alarms a computation is a few hundred
            # ms, and back-to-back ones during a storm would starve the GUI thread (CPU and
            # GIL). A small set is computed again at once.
            if took > MIN_REST and self._wake.wait(took):
                return

    def _deliver(self, rows: Rows) -> None:
        self._taken.set()
        self.on_rows(rows)
