"""The publishing side of the pool's live NE states and members (topics ``ne`` and
``agent``), coalesced so that a burst stays a few messages.

- ``NeChanges``: which of an agent's NEs changed materially since it last published them
  (the same ``Mark`` that decides an urgent database snapshot, shared/snapshot.py: rates and
  counters are not news, a restart is), each NE at most once per ``every`` seconds. The
  caller asks once a tick and publishes what is due as ``ne_messages``: one message for many
  NEs, so a takeover of 1,000 NEs is a message or two, not 1,000.
- ``MemberWatch``: the master's view of the live members, a message when it changes.

Message bodies (each also stamped with origin, run and seq by shared/livefeed.py):

    ne:     {"nes": [item, ...]}            item = NeState.summary() + {"agent": owner}
    agent:  {"members": [...], "joined": [...], "left": [...], "master": m, "epoch": e}

An ``ne`` item is exactly a ``pool.ne_states`` item (same keys, ``agent`` the owner), so a
client stores both the same way and a newer one simply replaces an older one.

Pure: no clock, no sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import NeState
from .snapshot import Mark, snapshot

NE_BATCH = 500  # NEs per message: ~1 KB each with LLDP, far below the bus's 4 MiB cap


def ne_item(st: NeState, owner: str) -> dict[str, Any]:
    """One NE as a live ``ne`` message and ``pool.ne_states`` carry it."""
    return st.summary() | {"agent": owner}


@dataclass(slots=True)
class _Told:
    mark: Mark
    at: float
    revision: int


@dataclass(slots=True)
class NeChanges:
    every: float = 1.0  # an NE's state is published at most this often
    _told: dict[str, _Told] = field(default_factory=dict)

    def due(self, states: Iterable[NeState], owner: str, now: float) -> list[dict[str, Any]]:
        """The items to publish now (each NE's first state, then its material changes);
        they count as published once returned."""
        out = []
        for st in states:
            last = self._told.get(st.name)
            if last is not None and (st.revision == last.revision or now - last.at < self.every):
                continue  # nothing happened to it, or told too recently: a later tick
            mark = Mark.of(snapshot(st, owner, now))
            if last is not None and not mark.differs(last.mark):
                last.revision = st.revision  # looked at: only rates moved
                continue
            self._told[st.name] = _Told(mark, now, st.revision)
            out.append(ne_item(st, owner))
        return out

    def forget(self, names: Iterable[str]) -> None:
        """NEs released: the new owner tells theirs; if they come back, tell at once."""
        for n in names:
            self._told.pop(n, None)

    def keep_only(self, names: Iterable[str]) -> None:
        keep = set(names)
        for n in [n for n in self._told if n not in keep]:
            del self._told[n]


def ne_messages(items: Sequence[dict[str, Any]], per: int = NE_BATCH) -> list[dict[str, Any]]:
    """The bodies of the ``ne`` messages carrying ``items``."""
    return [{"nes": list(items[i : i + per])} for i in range(0, len(items), per)]


@dataclass(slots=True)
class MemberWatch:
    """The live members as the master sees them (itself included), and the message to
    publish when that set changes. Only the master publishes: its view is the one the
    assignment follows, it carries the epoch that fences a deposed master's word, and a
    client gets one message per join or leave instead of one from every member."""

    _last: tuple[str, ...] | None = None
    _epoch: int = 0

    def update(self, master: str, epoch: int, members: Iterable[str]) -> dict[str, Any] | None:
        now = tuple(sorted(set(members)))
        if epoch != self._epoch:
            self._last, self._epoch = None, epoch  # a new master's term: say the whole set
        if now == self._last:
            return None
        before = set(self._last or ())
        first = self._last is None
        self._last = now
        return {
            "members": list(now),
            "joined": [] if first else sorted(set(now) - before),
            "left": [] if first else sorted(before - set(now)),
            "master": master,
            "epoch": epoch,
        }

    def reset(self) -> None:
        """No longer master: the next term starts with the whole set."""
        self._last, self._epoch = None, 0
