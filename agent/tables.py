"""Human-readable tables and timestamps for the CLI (plain text, no dependencies)."""

from __future__ import annotations

import time
from collections.abc import Sequence


def when(ts: object) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> str:
    cells = [[_cell(c, max_width) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line.rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(out)


def _cell(v: object, max_width: int) -> str:
    s = "-" if v is None or v == "" else str(v)
    s = s.replace("\n", " ")
    return s if len(s) <= max_width else s[: max_width - 1] + "…"
