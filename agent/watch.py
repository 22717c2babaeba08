"""`emspool watch`: a live view of the pool in the terminal.

Alarms come from every agent's memory (the federated ``pool.alarms``, each second), the
members from the database (``db.pool``), and events arrive on the attached agent's PUB
socket as they happen (it relays the other members'). Without a terminal it prints one
line per event and per pool change, which is what logs and CI want.
"""

from __future__ import annotations

import collections
import shutil
import sys
import time
from typing import Any

import zmq

from agent import busclient
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


def watch(client: busclient.BusClient, pub: str | None, duration: float = 0.0) -> int:
    """The pool's live alarms (federated, from every agent's memory), its members (master,
    epoch, NEs per agent) and its events as they happen, through one agent; ``pub`` None:
    the events of the agent the client talks to, followed when the client moves to
    another agent. Without a terminal: one line per event and per pool change."""
    follow = pub is None
    sub = _subscribe(client, pub)
    on = client.endpoint
    tty = sys.stdout.isatty()
    recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=15)
    end = time.monotonic() + duration if duration > 0 else float("inf")
    next_draw = 0.0
    alarms: list[dict[str, Any]] = []
    pool_line = last_pool_line = ""
    status = "connecting"
    try:
        while time.monotonic() < end:
            if sub.poll(200, zmq.POLLIN):
                try:
                    _, body = decode_publish(sub.recv_multipart())
                except WireError:
                    continue
                recent.appendleft(body)
                if not tty:
                    print(_event_line(body, False), flush=True)
            now = time.monotonic()
            if now < next_draw:
                continue
            next_draw = now + 1.0
            try:
                reply = client.request("pool.alarms", timeout=2.0)
                alarms = reply["items"]
                missing = reply.get("missing") or {}
                pool_line = _pool_line(client.request("db.pool", timeout=2.0))
                status = f"via {client.endpoint}" + (
                    f"; NOT ANSWERING: {', '.join(sorted(missing))}" if missing else ""
                )
                if follow and client.endpoint != on:  # failed over: its events now
                    sub.close(linger=0)
                    sub = _subscribe(client, None)
                    on = client.endpoint
            except busclient.Unreachable:
                status = "agents: NOT ANSWERING"
            if tty:
                _draw(status, pool_line, alarms, list(recent))
            elif pool_line != last_pool_line:
                print(f"{when(time.time())} pool: {pool_line}", flush=True)
            last_pool_line = pool_line
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(linger=0)
    return 0


def _subscribe(client: busclient.BusClient, pub: str | None) -> zmq.Socket[bytes]:
    if pub is None:
        pub = str(client.request("ping")["pub_endpoint"])
    return client.subscribe(pub, [Topic.EVENT])


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
            ("severity", "ne", "object", "type", "n", "raised", "ack", "agent", "text"), rows, 50
        ),
        "",
        "RECENT EVENTS",
        *(_event_line(e, True)[: cols + 12] for e in events),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
