"""One NE's details as HTML, without Qt: identity and protocols (the database's inventory,
``db.inventory``), the owner's live state (``pool.ne_detail``, routed to the agent that
polls it: reachability, uptime, interfaces with status and rates, neighbours), its
standing alarms, and recent events (``events.search``). Any part that did not arrive is
said, not left out silently. Every device string is escaped: an NE's sysDescr or an
interface name is not markup."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any

_HIDDEN = {"owner", "stored_state", "interface_alarms"}  # shown elsewhere or noise


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _when(t: object) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return "-"


def _bps(v: object) -> str:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.1f} {unit}bps"
    return f"{v:.0f} bps"


def _table(heads: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return "<p><i>none</i></p>"
    head = "".join(f"<th align=left>{_e(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table cellspacing=0 cellpadding=3><tr>{head}</tr>{body}</table>"


def _uptime(ticks: object) -> str:
    if not isinstance(ticks, int) or isinstance(ticks, bool):
        return "-"
    s = ticks // 100
    return f"{s // 86400} d {s % 86400 // 3600:02d}:{s % 3600 // 60:02d}"


def details_html(
    name: str,
    inventory: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    events: Sequence[Mapping[str, Any]] | None,
    errors: Mapping[str, str] | None = None,
) -> str:
    """``inventory``: the NE's ``db.inventory`` item; ``live``: the ``pool.ne_detail``
    reply; ``errors``: part -> why it is missing."""
    errors = dict(errors or {})
    out = [f"<h2>{_e(name)}</h2>"]
    if inventory is None:
        out.append(f"<p><b>Inventory:</b> {_e(errors.get('inventory', 'not found'))}</p>")
    else:
        rows = [
            (k.replace("_", " "), ", ".join(map(str, v)) if isinstance(v, list) else v)
            for k, v in sorted(inventory.items())
            if k not in _HIDDEN and v not in (None, "", [], {})
        ]
        owner = inventory.get("owner") or "(no owner)"
        out.append(f"<p><b>Owner agent:</b> {_e(owner)}</p>")
        out.append("<h3>Inventory</h3>" + _table(("field", "value"), rows))
    state = live.get("state") if live else None
    if live is None:
        out.append(f"<h3>Live state</h3><p>{_e(errors.get('live', 'no answer'))}</p>")
    elif not isinstance(state, Mapping):
        out.append(f"<h3>Live state</h3><p>agent {_e(live.get('agent'))} does not poll it</p>")
    else:
        r = state.get("reachable")
        reach = "not polled yet" if r is None else "yes" if r else "<b style='color:#e5322d'>NO</b>"
        out.append(
            f"<h3>Live state (agent {_e(live.get('agent'))})</h3>"
            f"<p>reachable: {reach} · last poll {_when(state.get('last_poll'))} · uptime "
            f"{_uptime(state.get('sys_uptime'))} · last error {_e(state.get('last_error') or '-')}"
            f"<br>{_e(state.get('sys_name') or '')} {_e(state.get('sys_descr') or '')}</p>"
        )
        ifs = [
            (i.get("index"), i.get("name"), "up" if i.get("admin_up") else "down",
             i.get("status"), _bps(i.get("speed_bps")), _bps(i.get("in_bps")),
             _bps(i.get("out_bps")))
            for i in state.get("interfaces") or []
        ]  # fmt: skip
        out.append("<h4>Interfaces</h4>" + _table(
            ("ifIndex", "name", "admin", "status", "speed", "in", "out"), ifs))  # fmt: skip
        nbrs = [
            (n.get("local_port"), n.get("remote_name"), n.get("remote_port"))
            for n in state.get("neighbours") or []
        ]
        out.append("<h4>Neighbours</h4>" + _table(("local port", "remote", "remote port"), nbrs))
    alarms = list(live.get("alarms") or []) if live else []
    out.append("<h3>Standing alarms</h3>" + _table(
        ("severity", "object", "type", "text", "raised", "ack"),
        [(a.get("severity"), a.get("obj"), a.get("type"), a.get("text"),
          _when(a.get("raised_at") or a.get("first_seen")), a.get("acked_by") or "")
         for a in alarms],
    ))  # fmt: skip
    if events is None:
        out.append(f"<h3>Recent events</h3><p>{_e(errors.get('events', 'no answer'))}</p>")
    else:
        out.append("<h3>Recent events</h3>" + _table(
            ("time", "severity", "type", "object", "text"),
            [(_when(e.get("time")), e.get("severity"), e.get("type"), e.get("obj"),
              e.get("text")) for e in events],
        ))  # fmt: skip
    return "".join(out)
