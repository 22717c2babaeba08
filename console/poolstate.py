"""The pool tab's state without Qt: one row per agent, from the database's picture
(``db.pool``: members, their checked state, the lease's master and epoch, NEs assigned,
the health each agent last reported) joined with the agents' live answers
(``pool.health``: role, NEs managed, standing alarms, poll counters), and which agents
answered the last federated requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.alarmlist import when

# The event log's master changes (agent/electiond.py logs them, type "agent"): the query
# the pool tab asks, and the text they start with.
MASTER_EVENT = "pool master"
MASTER_QUERY: dict[str, Any] = {"types": ["agent"], "text": MASTER_EVENT, "limit": 100}
HISTORY_COLUMNS = ("When", "Agent", "Change")

COLUMNS = (
    "Agent",
    "State",
    "Role (live)",
    "Epoch",
    "NEs assigned",
    "NEs polled",
    "Alarms",
    "SNMP polls / failed",
    "NETCONF polls / failed",
    "Unreachable NEs",
    "Heartbeat",
    "Answered",
    "Endpoint",
)


def _polls(health: Mapping[str, Any], proto: str) -> str:
    if f"{proto}_polls" not in health:
        return ""
    return f"{health.get(f'{proto}_polls', 0)} / {health.get(f'{proto}_failures', 0)}"


def _answers(reply: Mapping[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    if not reply:
        return [], {}
    answered = [str(n) for n in reply.get("answered") or []]
    missing = {str(k): str(v) for k, v in (reply.get("missing") or {}).items()}
    return answered, missing


def _answered(node: str, answered: list[str], missing: Mapping[str, str]) -> str:
    if node in answered:
        return "yes"
    return f"NO: {missing[node]}" if node in missing else ""


def answered_line(what: str, answered: list[str], missing: Mapping[str, str]) -> str:
    text = f"{what}: answered by {', '.join(sorted(answered)) or 'nobody'}"
    if missing:
        gone = ", ".join(f"{n} ({why})" for n, why in sorted(missing.items()))
        text += f"; NO ANSWER from {gone}"
    return text


@dataclass(slots=True)
class PoolState:
    """Feed it the replies as they come; read ``rows()`` and ``headline()``."""

    db_pool: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    alarms_answered: list[str] = field(default_factory=list)
    alarms_missing: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the last request that failed, said in the tab
    master_events: list[dict[str, Any]] = field(default_factory=list)  # newest first
    # The live members by the master's ``agent`` messages (shared/neview.py), and the
    # last joins and leaves seen live, newest last
    live_members: list[str] = field(default_factory=list)
    live_master: str = ""
    live_epoch: int = 0
    member_news: list[str] = field(default_factory=list)

    def members_changed(
        self, members: list[str], master: str, epoch: int, joined: list[str], left: list[str],
        at: str,
    ) -> bool:  # fmt: skip
        """Take the live member set; True when someone joined or left (worth a refresh).
        The first set seen is how the pool is, not news: nobody joined just then."""
        first = not self.live_members and not self.live_master
        self.live_members, self.live_master, self.live_epoch = list(members), master, epoch
        news = [] if first else [f"{m} joined {at}" for m in joined]
        news += [f"{m} left {at}" for m in left]
        self.member_news = (self.member_news + news)[-5:]
        return bool(news)

    def rows(self) -> list[tuple[str, ...]]:
        members = {str(m["node_id"]): m for m in (self.db_pool or {}).get("members", [])}
        live = {
            str(p.get("node_id") or p.get("agent")): p for p in (self.health or {}).get("items", [])
        }
        answered, missing = _answers(self.health)
        master = str((self.db_pool or {}).get("master") or "")
        out: list[tuple[str, ...]] = []
        for node in sorted(set(members) | set(live)):
            m, p = members.get(node, {}), live.get(node, {})
            election = p.get("election") or {}
            health = p.get("health") or m.get("health") or {}
            state = str(m.get("state") or "")
            if node == master:
                state = "master"
            age = m.get("age")
            out.append(
                (
                    node,
                    state or "?",
                    str(election.get("role") or ""),
                    str(election.get("epoch") if election else m.get("epoch", "")),
                    str(m.get("assigned", "")),
                    str(p.get("managed", m.get("managed", ""))),
                    str(p.get("alarms_active", "")),
                    _polls(health, "snmp"),
                    _polls(health, "netconf"),
                    str(health.get("unreachable", "")),
                    f"{age:.1f} s ago" if isinstance(age, int | float) else "",
                    _answered(node, answered, missing),
                    str(m.get("endpoint") or ""),
                )
            )
        return out

    def headline(self) -> str:
        pool = self.db_pool or {}
        if not pool:
            return self.error or "waiting for the pool's answer (db.pool)"
        a = pool.get("assignment") or {}
        parts = [
            f"master {pool.get('master') or '(none)'}",
            f"epoch {pool.get('epoch', 0)}",
            f"assignment v{a.get('version', 0)} ({a.get('nes', 0)} NEs)",
            f"fetched {when(pool.get('fetched'))}",
        ]
        if pool.get("orphans"):
            parts.append(f"NEs of unknown agents: {', '.join(pool['orphans'])}")
        return " · ".join(parts)

    def answers(self) -> list[str]:
        """Who answered the last federated requests (health and alarms)."""
        lines = []
        if self.health is not None:
            answered, missing = _answers(self.health)
            lines.append(answered_line("pool.health", answered, missing))
        if self.live_members:
            line = (
                f"live members (master {self.live_master or '?'}, epoch {self.live_epoch}): "
                + " ".join(self.live_members)
            )
            if self.member_news:
                line += " · " + ", ".join(self.member_news)
            lines.append(line)
        if self.alarms_answered or self.alarms_missing:
            lines.append(answered_line("pool.alarms", self.alarms_answered, self.alarms_missing))
        if self.error:
            lines.append(f"last error: {self.error}")
        return lines

    def history(self) -> list[tuple[str, str, str]]:
        """The pool's master changes, newest first: (when, agent, change)."""
        prefix = f"{MASTER_EVENT}: "
        out = []
        for e in self.master_events:
            text = str(e.get("text") or "")
            if text.startswith(prefix):
                out.append((when(e.get("time")), str(e.get("agent") or ""), text[len(prefix) :]))
        return out

    def failovers(self) -> int:
        """Masters that stepped down or vanished in the history shown: a new master whose
        predecessor logged nothing (killed) counts as well."""
        return sum(1 for _, _, change in self.history() if change.startswith("became master"))
