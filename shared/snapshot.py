"""NE state snapshots for the database: what a database-sourced view (peered topology, NE
details on any agent) shows of each NE's live state, and when it is worth writing again.

A snapshot is written when what an operator would notice changed (reachability, an
interface's status, the neighbours, the owner) at most every ``urgent_every`` seconds, and
otherwise (counters, rates, uptime) at most every ``every`` seconds: live rates in the
database are then at most that old, and a pool of thousands of NEs writes a few rows a
second, not one per poll. Pure: the caller gives the time and does the writing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import NeState, status_of

SCHEMA = 1  # the snapshot's layout; readers ignore newer fields they do not know


def snapshot(st: NeState, owner: str, now: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "ne": st.name,
        "owner": owner,
        "taken": now,
        "reachable": st.reachable,
        "last_poll": st.last_poll,
        "last_error": st.last_error,
        "sys_name": st.sys_name,
        "sys_descr": st.sys_descr,
        "sys_uptime": st.sys_uptime,
        "interfaces": [
            {
                "index": i.index,
                "name": i.name,
                "admin_up": i.admin_up,
                "status": status_of(i).value,
                "speed_bps": i.speed_bps,
                "in_bps": i.in_bps,
                "out_bps": i.out_bps,
                "in_errors": i.in_errors,
                "out_errors": i.out_errors,
            }
            for _, i in sorted(st.interfaces.items())
        ],
        "neighbours": [
            {"local_port": n.local_port, "remote_name": n.remote_name, "remote_port": n.remote_port}
            for n in st.neighbours
        ],
        "problems": dict(st.problems),
        # The ports seen up since the NE was managed: a new owner takes them over, so a
        # port that goes down during a takeover still alarms (the link-alarm policy).
        "ever_up": sorted(st.ever_up),
    }


def _digest(snap: Mapping[str, Any]) -> int:
    """What an operator notices: reachability, interface status, neighbours, owner. An
    in-memory fingerprint only (never stored), so Python's tuple hash does: a collision
    would delay one write by ``every`` at most."""
    return hash(
        (
            snap["owner"],
            snap["reachable"],
            snap["last_error"],
            tuple((i["index"], i["name"], i["admin_up"], i["status"]) for i in snap["interfaces"]),
            tuple(
                (n["local_port"], n["remote_name"], n["remote_port"]) for n in snap["neighbours"]
            ),
            tuple(sorted(snap["problems"].items())),
        )
    )


def seen_key(st: NeState) -> tuple[object, ...]:
    """Changes whenever a poll (answered or not) may have changed what a snapshot shows."""
    return (st.polls, st.last_poll, st.consecutive_failures, len(st.problems))


@dataclass(slots=True)
class _Written:
    digest: int
    at: float
    seen: tuple[object, ...]  # seen_key when written
    checked: tuple[object, ...]  # seen_key when last found with nothing urgent to write


@dataclass(slots=True)
class Coalescer:
    every: float = 30.0
    urgent_every: float = 1.0
    _written: dict[str, _Written] = field(default_factory=dict)

    def due(self, states: Iterable[NeState], owner: str, now: float) -> list[dict[str, Any]]:
        """The snapshots to write now; call ``written`` once they are stored. An NE is
        looked at once per poll, not at every call: building and comparing the snapshots
        of a thousand NEs each second was a tenth of an agent's CPU in a takeover."""
        out = []
        for st in states:
            last = self._written.get(st.name)
            seen = seen_key(st)
            if (
                last is not None
                and seen in (last.seen, last.checked)
                and now - last.at < self.every
            ):
                continue  # nothing polled since it was last looked at: nothing new to say
            snap = snapshot(st, owner, now)
            if last is None:
                out.append(snap)
                continue
            age = now - last.at
            urgent = _digest(snap) != last.digest
            if (urgent and age >= self.urgent_every) or age >= self.every:
                out.append(snap)
            elif not urgent:
                last.checked = seen
        return out

    def written(
        self, snaps: Iterable[Mapping[str, Any]], seen: Mapping[str, tuple[object, ...]]
    ) -> None:
        """``seen``: NE -> seen_key of the states the snapshots were taken from."""
        for s in snaps:
            name = str(s["ne"])
            key = seen.get(name, ())
            self._written[name] = _Written(_digest(s), float(s["taken"]), key, key)

    def forget(self, names: Iterable[str]) -> None:
        """NEs released: the next owner writes theirs; if they come back, write at once."""
        for n in names:
            self._written.pop(n, None)
