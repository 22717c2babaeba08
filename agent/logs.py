"""Structured logging: one line per record to stderr (journald takes it from there), as
key=value text or JSON, with the NE and agent context; repeated lines rate-limited.

Secrets never reach here: adapters put host:port and profile names in messages, never
communities or keys.

The rate limit keys a record about an NE by its logger, level, NE and message *template*
(not the formatted text), so "poll failed" for one unreachable NE is written once per window
with a count of what was held back, instead of once per poll forever, while another NE's
first failure still shows at once. A record about no NE is held back only when its whole
text repeats (two different assignment changes both show).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

_CONTEXT_KEYS = ("agent", "ne", "error", "peer")
RATE_WINDOW = 300.0  # seconds between two lines of the same kind
_RATE_TABLE_MAX = 10_000


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={getattr(record, k)}" for k in _CONTEXT_KEYS if hasattr(record, k)]
        return f"{line} {' '.join(extras)}" if extras else line


class JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.node_id:
            doc["node"] = self.node_id
        for k in _CONTEXT_KEYS:
            if hasattr(record, k):
                doc[k] = str(getattr(record, k))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


class RateLimit(logging.Filter):
    """At most one record per (logger, level, NE, template) per ``window`` seconds; the next
    one that passes says how many were held back. Errors with a traceback always pass."""

    def __init__(self, window: float = RATE_WINDOW, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            return True
        ne = str(getattr(record, "ne", ""))
        what = str(record.msg) if ne else record.getMessage()
        key = (record.name, record.levelno, ne, what)
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.window:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if len(self._seen) >= _RATE_TABLE_MAX:
            self._seen.clear()
        held = last[1] if last is not None else 0
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} similar lines held back in {self.window:g} s)"
        return True


def setup(level: str = "INFO", node_id: str = "", fmt: str = "kv") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(node_id))
    else:
        prefix = f"[{node_id}] " if node_id else ""
        handler.setFormatter(
            KeyValueFormatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")
        )
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pysnmp and asyncio chatter is not operator information.
    for noisy in ("pysnmp", "pyasn1", "asyncio", "alembic", "ncclient", "paramiko", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
