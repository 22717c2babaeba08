"""The topology tab's details panel: what both sources say about the selected node, as
HTML for a QTextBrowser. Qt-free."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping

from shared.model import Severity
from shared.topology import (
    AGENT_PREFIX,
    DATABASE,
    MEMORY,
    Topology,
    colour_of,
    is_agent,
)

_EMPTY = "<p style='color:#8a9099'>Select a node (click, or search by name).</p>"


def _row(key: str, value: object) -> str:
    return f"<tr><td style='color:#8a9099;padding-right:8px'>{key}</td><td>{value}</td></tr>"


def _when(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "—"


def _reach(v: bool | None) -> str:
    return "not polled yet" if v is None else ("yes" if v else "<b style='color:#e5322d'>no</b>")


def details_html(
    node_id: str,
    database: Topology | None,
    memory: Topology | None,
    worst: Mapping[str, Severity],
    shown: str,
) -> str:
    if not node_id:
        return _EMPTY
    rows: list[str] = []
    sources = [(DATABASE, database), (MEMORY, memory)]
    if is_agent(node_id):
        node = node_id.removeprefix(AGENT_PREFIX)
        rows.append(_row("agent", f"<b>{html.escape(node)}</b>"))
        for name, topo in sources:
            a = topo.agents.get(node) if topo is not None else None
            if a is None:
                rows.append(_row(name, "—"))
                continue
            answered = "" if a.answered else " <b style='color:#e5322d'>(no answer)</b>"
            rows.append(_row(name, f"{a.state or '?'}, epoch {a.epoch}, {a.load:,} NEs{answered}"))
        return "<table>" + "".join(rows) + "</table>"
    rows.append(_row("NE", f"<b>{html.escape(node_id)}</b>"))
    sev = worst.get(node_id)
    base = next((t for _, t in sources if t is not None and node_id in t.nes), None)
    if base is not None:
        ne = base.nes[node_id]
        swatch = f"<span style='color:{colour_of(ne, worst)}'>●</span>"
        rows.append(_row("alarm", f"{swatch} {sev.label if sev else 'none standing'}"))
        if ne.kind or ne.site:
            rows.append(_row("kind / site", html.escape(f"{ne.kind or '?'} / {ne.site or '—'}")))
        if ne.external:
            rows.append(_row("inventory", "not in the pool's inventory (seen by LLDP)"))
    for name, topo in sources:
        n = topo.nes.get(node_id) if topo is not None else None
        mark = " (shown)" if name == shown else ""
        if n is None:
            rows.append(_row(f"{name}{mark}", "<i>absent</i>" if topo is not None else "—"))
            continue
        rows.append(
            _row(
                f"{name}{mark}",
                f"owner <b>{html.escape(n.owner or 'none')}</b>, reachable {_reach(n.reachable)}",
            )
        )
        if name == MEMORY:
            rows.append(_row("last poll", _when(n.last_poll)))
            if n.last_error:
                rows.append(_row("last error", html.escape(n.last_error)))
            if n.interfaces_down:
                rows.append(_row("ports down", n.interfaces_down))
    topo = memory if shown == MEMORY and memory is not None else (database or memory)
    if topo is not None:
        links = topo.neighbours(node_id)
        items = "".join(
            f"<li>{html.escape(e.key[1] if e.a == node_id else e.key[3])} → "
            f"{html.escape(e.b if e.a == node_id else e.a)} "
            f"{html.escape(e.key[3] if e.a == node_id else e.key[1])}</li>"
            for e in links[:40]
        )
        more = f"<li>… {len(links) - 40} more</li>" if len(links) > 40 else ""
        rows.append(_row(f"links ({len(links)})", f"<ul style='margin:0'>{items}{more}</ul>"))
    return "<table>" + "".join(rows) + "</table>"
