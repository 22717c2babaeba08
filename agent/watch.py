"""`emspool watch`: a live view of the pool in the terminal.

Alarms: one federated snapshot (``pool.alarms``, every agent's memory), then kept current
by the events the attached agent publishes and relays for the others (agent/livealarms.py,
shared/alarmview.py), resynchronised when a gap shows; the members come from the database
(``db.pool``). Without a terminal it prints one line per event and per pool change, which
is what logs and CI want.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import zmq

from agent import busclient
from agent.livealarms import LiveAlarms
from agent.tables import table, when
from shared.wire import Topic, WireError, decode_publish

_COLOURS = {
    "critical": "\033[1;31m",
    "major": "\033[31m",
    "minor": "\033[33m",
    "warning": "\033[36m",
    "cleared": "\033[32m",
}
_RESET = "\033[0m"


def _event_line(e: dict[str, Any], colour: bool) -> str:
    sev = str(e.get("severity", ""))
    tag = f"{_COLOURS.get(sev, '')}{sev:<13}{_RESET if sev in _COLOURS else ''}" if colour else sev
    obj = f" {e['obj']}" if e.get("obj") else ""
    return f"{when(e.get('time'))} {tag} {e.get('ne') or '-'}{obj} {e.get('type')}: {e.get('text')}"


def _pool_line(pool: dict[str, Any]) -> str:
    members = " ".join(
        f"{m['node_id']}({m['state'][0].upper() if m['state'] else '?'}:{m['managed']})"
        for m in pool.get("members", [])
    )
    return f"master {pool.get('master') or '(none)'} epoch {pool.get('epoch', 0)} | {members}"


def watch(
    client: busclient.BusClient,
    pub: str | None = None,
    duration: float = 0.0,
    resync_every: float = 30.0,
) -> int:
    """The pool's live alarms (one federated snapshot, then kept current by the events the
    attached agent publishes and relays; resynchronised on a gap, on a move to another
    agent and every ``resync_every`` s), its members (master, epoch, NEs per agent) and its
    events as they happen. ``pub``: only print the events of that PUB endpoint (no view).
    Without a terminal: one line per event and per pool change."""
    if pub is not None:
        return _print_events(client, pub, duration)
    live = LiveAlarms(client, resync_every=resync_every)
    tty = sys.stdout.isatty()
    end = time.monotonic() + duration if duration > 0 else float("inf")
    next_pool = 0.0
    printed = 0
    pool_line = ""
    last_pool_line = ("", "")
    status = "connecting"
    try:
        while time.monotonic() < end:
            try:
                live.step(0.2)
                status = live.status()
                if live.view.missing:
                    status += f"; NOT ANSWERING: {', '.join(sorted(live.view.missing))}"
                if time.monotonic() >= next_pool:
                    next_pool = time.monotonic() + 2.0
                    pool_line = _pool_line(client.request("db.pool", timeout=2.0))
            except busclient.Unreachable:
                status = "agents: NOT ANSWERING"
                time.sleep(0.5)
            except busclient.RequestFailed as err:  # e.g. an agent of another version
                status = f"agent refused: {err}"
                time.sleep(0.5)
            if tty:
                _draw(status, pool_line, live.view.items(), list(live.recent)[:15])
                continue
            fresh = list(live.recent)[: min(live.seen - printed, len(live.recent))]
            printed = live.seen
            for e in reversed(fresh):
                print(_event_line(e, False), flush=True)
            if (pool_line, live.attached_node) != last_pool_line:
                print(f"{when(time.time())} pool: {pool_line} | {status}", flush=True)
            last_pool_line = (pool_line, live.attached_node)
    except KeyboardInterrupt:
        pass
    finally:
        live.close()
    return 0


def _print_events(client: busclient.BusClient, pub: str, duration: float) -> int:
    sub = client.subscribe(pub, [Topic.EVENT])
    end = time.monotonic() + duration if duration > 0 else float("inf")
    try:
        while time.monotonic() < end:
            if sub.poll(200, zmq.POLLIN):
                try:
                    _, body = decode_publish(sub.recv_multipart())
                except WireError:
                    continue
                print(_event_line(body, False), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(linger=0)
    return 0


def _draw(
    status: str, pool: str, alarms: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    cols = shutil.get_terminal_size((120, 40)).columns
    rows = [
        (
            a["severity"],
            a["ne"],
            a["obj"],
            a["type"],
            a["count"],
            when(a["raised_at"]),
            a["acked_by"],
            a.get("note_count") or "",
            a.get("agent", ""),
            a["text"],
        )
        for a in alarms[:20]
    ]
    out = [
        "\033[H\033[2J",
        f"emspool live view — {status} — {time.strftime('%H:%M:%S')}   (Ctrl-C to quit)",
        "",
        f"POOL  {pool}",
        "",
        f"ACTIVE ALARMS ({len(alarms)}, all agents)",
        table(
            ("severity", "ne", "object", "type", "n", "raised", "ack", "notes", "agent", "text"),
            rows,
            50,
        ),
        "",
        "RECENT EVENTS",
        *(_event_line(e, True)[: cols + 12] for e in events),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
