"""`emspool watch`: a live view of the pool in the terminal.

Alarms: one federated snapshot (``pool.alarms``, every agent's memory), then kept current
by the events the attached agent publishes and relays for the others (agent/livealarms.py,
shared/alarmview.py), resynchronised when a gap shows; the members' loads come from the
database (``db.pool``). NE states and the live members come the same way as the alarms
(topics ``ne`` and ``agent``: shared/neview.py): a line when an NE's reachability, ports
down, error or owner change, and when a member joins or leaves. Without a terminal it
prints one line per event and per pool change, which is what logs and CI want.
"""

from __future__ import annotations

import collections
import shutil
import sys
import time
from typing import Any

import zmq

from agent import busclient
from agent.livealarms import LiveAlarms
from agent.tables import table, when
from shared.neview import NeView, essence
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


def _ne_line(d: dict[str, Any]) -> str:
    if d.get("reachable") is None:
        state = "not polled yet"
    elif not d.get("reachable"):
        state = f"UNREACHABLE: {d.get('last_error') or '?'}"
    else:
        down = int(d.get("interfaces_down") or 0)
        state = f"reachable, {down} of {d.get('interfaces', 0)} ports down"
    return f"{when(time.time())} ne {d.get('name')} ({d.get('agent') or '?'}): {state}"


def _member_lines(view: NeView, joined: list[str], left: list[str]) -> list[str]:
    by = f"(master {view.master or '?'}, epoch {view.epoch})"
    return [f"{when(time.time())} member {m} joined {by}" for m in joined] + [
        f"{when(time.time())} member {m} left {by}" for m in left
    ]


class _NeNews:
    """The NE and member lines to print: an NE only when what an operator reads of it
    changed (an agent tells an NE's first state after a start or a takeover too)."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[Any, ...]] = {}
        self.printed = 0
        self.resyncs = 0
        self.lines: collections.deque[str] = collections.deque(maxlen=10)

    def fresh(self, live: LiveAlarms) -> list[str]:
        view = live.nes
        assert view is not None
        news = list(live.news)[: min(live.news_count - self.printed, len(live.news))]
        self.printed = live.news_count
        out: list[str] = []
        for seen in reversed(news):
            for d in seen.nes:
                now = essence([d])[str(d["name"])]
                if self.known.get(str(d["name"]), now) != now:
                    out.append(_ne_line(d))
                self.known[str(d["name"])] = now
            out += _member_lines(view, seen.joined, seen.left)
        if view.resyncs != self.resyncs:  # a new snapshot: what it says is known, not news
            self.resyncs = view.resyncs
            self.known = view.summary()
        self.lines.extendleft(out)
        return out


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
    live = LiveAlarms(client, resync_every=resync_every, nes=True)
    ne_news = _NeNews()
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
            fresh_nes = ne_news.fresh(live)
            if tty:
                assert live.nes is not None
                members = f"{' '.join(live.nes.members)} (master {live.nes.master or '?'})"
                events = list(live.recent)[:15]
                _draw(status, pool_line, members, live.view.items(), events, list(ne_news.lines))
                continue
            fresh = list(live.recent)[: min(live.seen - printed, len(live.recent))]
            printed = live.seen
            for e in reversed(fresh):
                print(_event_line(e, False), flush=True)
            for line in fresh_nes:
                print(line, flush=True)
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
    status: str,
    pool: str,
    members: str,
    alarms: list[dict[str, Any]],
    events: list[dict[str, Any]],
    ne_lines: list[str],
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
        f"LIVE MEMBERS  {members}",
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
        "",
        "NE STATE AND MEMBER CHANGES",
        *(line[:cols] for line in ne_lines),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
