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
        active = bool(alarm.get("active"))
        if (self.state == "active" and not active) or (self.state == "cleared" and active):
            return False
        if Severity.parse(str(alarm.get("severity", "indeterminate"))) < self.min_severity:
            return False
        if self.nes and alarm.get("ne") not in self.nes:
            return False
        if self.types and alarm.get("type") not in self.types:
            return False
        acked = bool(alarm.get("acked_by"))
        if (self.acked == "yes" and not acked) or (self.acked == "no" and acked):
            return False
        if self.text:
            hay = " ".join(str(alarm.get(k, "")) for k in ("text", "ne", "obj", "type"))
            if self.text not in hay.casefold():
                return False
        return True


def worst_first_key(d: Mapping[str, Any]) -> tuple[int, float, str, str]:
    """The order of ``worst_first``, as a sort key."""
    return (
        -Severity.parse(str(d.get("severity", "indeterminate"))),
        -float(d.get("last_seen") or 0.0),
        str(d.get("ne", "")),
        str(d.get("obj", "")),
    )


def worst_first(alarms: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then the most recently seen."""
    return sorted((dict(a) for a in alarms), key=worst_first_key)


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
