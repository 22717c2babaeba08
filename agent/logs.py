"""Structured logging: one line per record, key=value context (NE, agent) appended.

Secrets never reach here: adapters put host:port and profile names in messages,
never communities or keys.
"""

from __future__ import annotations

import logging
import sys

_CONTEXT_KEYS = ("agent", "ne", "error", "peer")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={getattr(record, k)}" for k in _CONTEXT_KEYS if hasattr(record, k)]
        return f"{line} {' '.join(extras)}" if extras else line


def setup(level: str = "INFO", node_id: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    prefix = f"[{node_id}] " if node_id else ""
    handler.setFormatter(
        KeyValueFormatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pysnmp and asyncio chatter is not operator information.
    for noisy in ("pysnmp", "pyasn1", "asyncio", "alembic", "ncclient", "paramiko", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
