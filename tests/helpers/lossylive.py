"""The real live client, losing messages while a test says (as a slow subscriber's PUB
drops them at its high-water mark): gap detection is tested against the real thing."""

from __future__ import annotations

from typing import Any

from agent.livealarms import LiveAlarms


class LossyLive(LiveAlarms):
    dropping = False
    dropped = 0

    def take(self, topic: str, body: dict[str, Any]) -> None:
        if self.dropping:
            self.dropped += 1
            return
        super().take(topic, body)
