"""The master's lease renewals, in a thread of their own.

The election state machine asks for a renewal every ``lease_renew`` seconds, and steps the
master down when none has come back for ``lease_hold``. Driven from the event loop, a loop
busy with a takeover's thousand polls for a second or two delays the renewals and the
master steps down for nothing, which moves every NE twice. So while this agent is master a
plain thread renews the lease against the database on its own clock, and hands each answer
to the loop (``call_soon_threadsafe``, queued ahead of the loop's late timers).

What stays true: the lease is still renewed only by database time and only for our
(holder, epoch) while it has not run out, so a paused process (SIGSTOP stops this thread
too), a partitioned one, or one whose database is gone still loses it; every assignment
write is fenced by the lease in its own transaction. A loop silent for longer than
LOOP_SILENCE (wedged, not busy) is not renewed for: the pool must not keep a master that
can no longer act.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from agent.pooldb import PoolDb
from shared.errors import DatabaseError

log = logging.getLogger(__name__)

LOOP_SILENCE = 5.0  # seconds without a sign of life from the loop: no more renewals

# (epoch, sent_at on the loop's clock, True renewed / False lost / None database error)
Answer = Callable[[int, float, bool | None], None]


class Renewer:
    def __init__(
        self,
        pool: PoolDb,
        me: str,
        ttl: float,
        every: float,
        loop: asyncio.AbstractEventLoop,
        answer: Answer,
    ) -> None:
        self.pool = pool
        self.me = me
        self.ttl = ttl
        self.every = every
        self.loop = loop
        self.answer = answer
        self.alive = time.monotonic()  # the loop's last sign of life (it sets this)
        self.stats = dict.fromkeys(("renewed", "lost", "errors", "skipped_silent_loop"), 0)
        self._epoch: int | None = None
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self, epoch: int) -> None:
        """Renew for ``epoch`` from now on (we just became master)."""
        self._epoch = epoch
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pool-renewer", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """No more renewals (we stepped down)."""
        self._epoch = None

    def close(self) -> None:
        self._closed = True
        self._epoch = None
        self._wake.set()

    def _run(self) -> None:
        # The loop's clock is time.monotonic() (asyncio's default), so sent_at compares
        # with the state machine's own times.
        while not self._closed:
            epoch = self._epoch
            if epoch is None:
                self._wake.wait()
                self._wake.clear()
                continue
            sent = time.monotonic()
            if sent - self.alive > LOOP_SILENCE:
                self.stats["skipped_silent_loop"] += 1
            else:
                result: bool | None
                try:
                    result = self.pool.renew_lease(self.me, epoch, self.ttl)
                except DatabaseError as e:
                    log.warning("master lease not renewed: %s", e)
                    result = None
                key = "renewed" if result else ("lost" if result is False else "errors")
                self.stats[key] += 1
                try:
                    self.loop.call_soon_threadsafe(self.answer, epoch, sent, result)
                except RuntimeError:  # the loop has closed: we are stopping
                    return
            left = self.every - (time.monotonic() - sent)
            if left > 0:
                self._wake.wait(left)
                self._wake.clear()
