"""NE state snapshots for the database: what a database-sourced view (peered topology, NE
details on any agent) shows of each NE's live state, and when it is worth writing again.

A snapshot is written when what an operator would notice changed (reachability, the last
error, an interface's status, the neighbours, the name, a restart, the owner: ``Mark``) at
most every ``urgent_every`` seconds, and otherwise (counters, rates, uptime) at most every
``every`` seconds: live rates in the database are then at most that old, and a pool of
thousands of NEs writes a few rows a second, not one per poll. The same ``Mark`` decides
which NE states are published live (shared/nefeed.py). Pure: the caller gives the time and
does the writing.
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
    in-memory fingerprint only (never stored), so Python's tuple hash does (sorted JSON
    and blake2b cost ten times more, a tenth of a taker's CPU in a failover); a collision
    would hold one write back by ``every`` at most."""
    return hash(
        (
            snap["owner"],
            snap["reachable"],
            snap["last_error"],
            snap["sys_name"],
            tuple((i["index"], i["name"], i["admin_up"], i["status"]) for i in snap["interfaces"]),
            tuple(
                (n["local_port"], n["remote_name"], n["remote_port"]) for n in snap["neighbours"]
            ),
            tuple(sorted(snap["problems"].items())),
        )
    )


@dataclass(frozen=True, slots=True)
class Mark:
    """What an operator would notice of an NE's state, to compare with the last one told
    (written to the database, or published live). Rates and counters are not in it; the
    uptime only as far as it going back (a restart) is news."""

    digest: int
    uptime: int | None

    @classmethod
    def of(cls, snap: Mapping[str, Any]) -> Mark:
        up = snap.get("sys_uptime")
        return cls(_digest(snap), up if isinstance(up, int) else None)

    def differs(self, before: Mark) -> bool:
        restarted = (
            self.uptime is not None and before.uptime is not None and self.uptime < before.uptime
        )
        return restarted or self.digest != before.digest


@dataclass(slots=True)
class _Written:
    mark: Mark
    at: float
    # NeState.revision when written, or later found with nothing urgent to write: an NE is
    # looked at once per change, not at every tick
    revision: int


@dataclass(slots=True)
class Coalescer:
    every: float = 30.0
    urgent_every: float = 1.0
    _written: dict[str, _Written] = field(default_factory=dict)

    def due(self, states: Iterable[NeState], owner: str, now: float) -> list[dict[str, Any]]:
        """The snapshots to write now; call ``written`` once they are stored."""
        out = []
        for st in states:
            last = self._written.get(st.name)
            if last is not None and st.revision == last.revision and now - last.at < self.every:
                continue  # nothing changed since it was last looked at (no poll, no trap)
            snap = snapshot(st, owner, now)
            if last is None:
                out.append(snap)
                continue
            age = now - last.at
            urgent = Mark.of(snap).differs(last.mark)
            if (urgent and age >= self.urgent_every) or age >= self.every:
                out.append(snap)
            elif not urgent:
                last.revision = st.revision
        return out

    def written(self, snaps: Iterable[Mapping[str, Any]], revisions: Mapping[str, int]) -> None:
        """``revisions``: each NE's ``NeState.revision`` when its snapshot was taken."""
        for s in snaps:
            name = str(s["ne"])
            self._written[name] = _Written(Mark.of(s), float(s["taken"]), revisions.get(name, 0))

    def forget(self, names: Iterable[str]) -> None:
        """NEs released: the next owner writes theirs; if they come back, write at once."""
        for n in names:
            self._written.pop(n, None)
