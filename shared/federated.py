"""Federated answers: what every live agent holds in memory, asked in parallel and merged.

The agent that receives a federated request asks every live member for its part under one
deadline; this module holds the pure halves: the alarm filter each agent applies to its own
alarms (so only matching alarms cross the bus), and the merge that turns the per-agent
answers into one reply saying which agents answered, which did not and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .alarmpage import item_key
from .alarms import Alarm
from .model import Severity

_STATES = ("active", "cleared", "all")
_ACKED = ("yes", "no", "any")


class FilterError(ValueError):
    """A federated request's filter is malformed (the message names the field)."""


def _names(args: Mapping[str, Any], key: str) -> frozenset[str]:
    v = args.get(key)
    if v is None or v == "":
        return frozenset()
    if isinstance(v, str):
        return frozenset([v])
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return frozenset(v)
    raise FilterError(f"{key}: expected a name or a list of names")


def _choice(args: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    v = args.get(key, default)
    if isinstance(v, bool) and key == "acked":
        return "yes" if v else "no"
    if v not in allowed:
        raise FilterError(f"{key}: expected one of {', '.join(allowed)}")
    return str(v)


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    min_severity: Severity = Severity.INDETERMINATE
    nes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    text: str = ""  # case-insensitive substring of the alarm text, NE, object or type
    acked: str = "any"  # yes / no / any
    state: str = "active"  # active / cleared / all

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> AlarmFilter:
        sev = args.get("min_severity", "indeterminate")
        if not isinstance(sev, str):
            raise FilterError("min_severity: expected a severity name")
        try:
            min_severity = Severity.parse(sev)
        except ValueError as e:
            raise FilterError(f"min_severity: {e}") from None
        text = args.get("text", "")
        if not isinstance(text, str) or len(text) > 200:
            raise FilterError("text: expected a string of at most 200 characters")
        state = "all" if args.get("include_cleared") is True else "active"
        return cls(
            min_severity=min_severity,
            nes=_names(args, "ne"),
            types=_names(args, "type"),
            agents=_names(args, "agent"),
            text=text.casefold(),
            acked=_choice(args, "acked", _ACKED, "any"),
            state=_choice(args, "state", _STATES, state),
        )

    def to_args(self) -> dict[str, Any]:
        """The filter as request arguments (what the receiving agent passes on to peers)."""
        return {
            "min_severity": self.min_severity.label,
            "ne": sorted(self.nes),
            "type": sorted(self.types),
            "agent": sorted(self.agents),
            "text": self.text,
            "acked": self.acked,
            "state": self.state,
        }

    def wants_agent(self, node_id: str) -> bool:
        return not self.agents or node_id in self.agents

    def matches(self, alarm: Mapping[str, Any]) -> bool:
        """An alarm as an object (a ``pool.alarms`` item, ``Alarm.to_dict``)."""
        ne, kind = str(alarm.get("ne", "")), str(alarm.get("type", ""))
        return self._admits(
            bool(alarm.get("active")),
            Severity.parse(str(alarm.get("severity", "indeterminate"))),
            ne,
            kind,
            bool(alarm.get("acked_by")),
        ) and self._has_text(str(alarm.get("text", "")), ne, str(alarm.get("obj", "")), kind)

    def matches_alarm(self, a: Alarm) -> bool:
        """The same for an agent's own alarm, read without making an object of it first
        (a snapshot of tens of thousands of alarms is mostly this test)."""
        k = a.key
        return self._admits(
            a.cleared_at is None, a.severity, k.ne, k.type, bool(a.acked_by)
        ) and self._has_text(a.text, k.ne, k.obj, k.type)

    def _admits(self, active: bool, severity: Severity, ne: str, kind: str, acked: bool) -> bool:
        if (self.state == "active" and not active) or (self.state == "cleared" and active):
            return False
        if severity < self.min_severity:
            return False
        if self.nes and ne not in self.nes:
            return False
        if self.types and kind not in self.types:
            return False
        return not ((self.acked == "yes" and not acked) or (self.acked == "no" and acked))

    def _has_text(self, text: str, ne: str, obj: str, kind: str) -> bool:
        return not self.text or self.text in f"{text} {ne} {obj} {kind}".casefold()


def worst_first(alarms: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then the most recently seen (the order of ``pool.alarms``)."""
    return sorted((dict(a) for a in alarms), key=item_key)


@dataclass(frozen=True, slots=True)
class Merged:
    """One federated reply: the merged items and who contributed them."""

    items: list[dict[str, Any]]
    answered: list[str]
    missing: dict[str, str] = field(default_factory=dict)  # node -> why it has no part

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "answered": self.answered,
            "missing": self.missing,
            "partial": self.partial,
        }


def merge_lists(
    parts: Mapping[str, Any],
    failed: Mapping[str, str],
    *,
    order: Any = None,
) -> Merged:
    """Per-agent lists into one; each item is tagged with the agent it came from. A part
    that is not a list (a peer of another version) counts as missing, not as data."""
    items: list[dict[str, Any]] = []
    answered: list[str] = []
    missing = dict(failed)
    for node in sorted(parts):
        part = parts[node]
        if not isinstance(part, list) or not all(isinstance(x, dict) for x in part):
            missing[node] = "malformed answer"
            continue
        answered.append(node)
        items += [x | {"agent": x.get("agent") or node} for x in part]
    return Merged(order(items) if order is not None else items, answered, missing)
