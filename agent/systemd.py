"""systemd's notify protocol for the agent: readiness, status, stopping, and a watchdog fed
from the event loop (so a loop that is stuck stops feeding it and systemd restarts the agent).

The datagrams themselves go through the `sdnotify` package; this module decides when. Outside
systemd (no NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os

import sdnotify

log = logging.getLogger(__name__)


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings systemd asks for (half its WatchdogSec), or None.

    systemd sets WATCHDOG_USEC, and WATCHDOG_PID when the watchdog is meant for one process
    only: a child that inherited the environment must not feed it.
    """
    env = dict(os.environ) if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        return None
    return seconds / 2 if seconds > 0 else None


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._n = sdnotify.SystemdNotifier() if self.enabled else None
        self.sent: list[str] = []  # what was sent, for `status` and tests

    def _send(self, state: str) -> None:
        if self._n is None:
            return
        self._n.notify(state)
        self.sent.append(state.split("=", 1)[0])

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    async def feed_watchdog(self) -> None:
        """Ping the watchdog from the event loop until cancelled (a no-op without one)."""
        interval = watchdog_interval() if self.enabled else None
        if interval is None:
            await asyncio.Event().wait()
            return
        log.info("systemd watchdog: a ping every %.1f s", interval)
        while True:
            self._send("WATCHDOG=1")
            await asyncio.sleep(interval)
