"""The topology tab's feed: the console's connection asks the attached agent for either
picture and hands the replies to the widget (console/topoview.py).

- database (peered): ``db.topology``;
- agents' memory (federated): ``pool.ne_states`` (every page: a 5,000-NE pool's states
  are near the bus's 4 MiB cap in one message) with ``pool.health`` for the agents' roles
  and epochs.

Both are fetched when the tab is first shown data, when the user asks (the widget's
refresh), and every ``REFRESH`` seconds, so ownership moves after a failover show up
without a click; the NEs' colours follow the alarm browser's standing set as it changes,
and their live state (reachability, ports down, owner) the ``ne`` messages the connection
passes on in each snapshot (shared/neview.py), within a second of the change.
A fetch that fails (the agent died, a reattach) is said in the banner and tried again at
the next round.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer

from console.alarmlist import Rows
from console.connection import Connection, Snapshot
from console.topoview import TopologyWidget
from shared.fedpage import NE_STATES
from shared.topology import worst_severities

REFRESH = 10.0  # seconds between automatic fetches of both pictures
TIMEOUT = 10.0  # a page of a 5,000-NE picture: more than a status request


class TopologyFeed(QObject):
    def __init__(
        self, conn: Connection, widget: TopologyWidget, via: Any, parent: QObject | None = None
    ) -> None:
        """``via()``: the node the connection is attached to, for the banner."""
        super().__init__(parent)
        self.conn, self.widget, self.via = conn, widget, via
        self.replies = 0  # pictures received (the screenshot waits for both)
        self.errors = 0
        widget.refreshRequested.connect(self.fetch)
        self.timer = QTimer(self)
        self.timer.setInterval(int(REFRESH * 1000))
        self.timer.timeout.connect(self.fetch_both)

    def start(self) -> None:
        self.fetch_both()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def on_snapshot(self, snap: Snapshot) -> None:
        """Agents' ``managed`` messages and the NE states told live: their NEs' edges move
        and their state shows now, before any refresh."""
        for origin, body in snap.agents:
            if origin:
                self.widget.apply_agent_event(origin, body)
        if snap.nes:
            self.widget.apply_ne_states(snap.nes)

    def on_rows(self, rows: Rows) -> None:
        self.widget.set_severities(worst_severities(rows.standing))

    def fetch_both(self) -> None:
        self.fetch("database")
        self.fetch("memory")

    def fetch(self, source: str) -> None:
        if source == "database":
            self.conn.request(
                "db.topology", {}, on_result=self._database, on_error=self._failed, timeout=TIMEOUT
            )
        else:
            self.conn.request_pages(
                NE_STATES, {}, on_result=self._states, on_error=self._failed, timeout=TIMEOUT
            )

    def _database(self, reply: Any) -> None:
        self.replies += 1
        self.widget.set_database(reply, via=str(self.via() or ""))

    def _states(self, states: Any) -> None:
        self.conn.request(
            "pool.health",
            {},
            on_result=lambda health: self._memory(states, health),
            on_error=lambda _e: self._memory(states, None),
            timeout=TIMEOUT,
        )

    def _memory(self, states: Any, health: Any) -> None:
        self.replies += 1
        self.widget.set_memory(states, health, via=str(self.via() or ""))

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        self.widget.banner_note(f"fetch failed: {error}")
