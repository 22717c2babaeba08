"""ietf-interfaces state -> InterfaceState, from either tree: the NMDA ``/interfaces``
(RFC 8343) with state inside, RFC 7223's ``/interfaces-state``, or both. Pure, like yang.py
(which re-exports what is public here).

Devices differ in what they leave out (type, admin-status, if-index and phys-address are
often missing although RFC 7223 calls them mandatory) and in the order they list
interfaces; neither may change which port an ``ifIndex=N`` alarm key names.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from .model import InterfaceState, OperStatus

IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"

Element = Any  # xml.etree or lxml element


def int_or_none(s: str | None) -> int | None:
    """A leaf's integer value; None when absent, empty or not a number."""
    try:
        return int(s) if s not in (None, "") else None
    except ValueError:
        return None


# ietf-interfaces oper-status enumeration (RFC 8343 / RFC 7223), same states as IF-MIB.
OPER_STATUS_VALUES: dict[str, OperStatus] = {
    "up": OperStatus.UP,
    "down": OperStatus.DOWN,
    "testing": OperStatus.TESTING,
    "unknown": OperStatus.UNKNOWN,
    "dormant": OperStatus.DORMANT,
    "not-present": OperStatus.NOT_PRESENT,
    "lower-layer-down": OperStatus.LOWER_LAYER_DOWN,
}


# Valid if-index values are int32 1..2^31-1 (RFC 8343). Indexes derived for interfaces a
# device reports without one live above that range, so they never clash with real ones.
MAX_IF_INDEX = 2**31 - 1
_DERIVED_BASE = 2**31
_DERIVED_SPAN = 2**31

_IF = f"{{{IF_NS}}}"
_IF_ENTRY = _IF + "interface"
_IF_TREES = (_IF + "interfaces", _IF + "interfaces-state")  # later trees win for a leaf


@lru_cache(maxsize=65536)
def stable_index(name: str) -> int:
    """The ifIndex emspool uses for an interface the device reports without if-index.

    A function of the name alone: the same on every poll whatever order the device lists
    its interfaces in, on every agent of the pool and after a restart, so ``ifIndex=N``
    alarm keys stay on their port.
    """
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return _DERIVED_BASE + int.from_bytes(digest, "big") % _DERIVED_SPAN


def leaf_text(el: Element | None) -> str | None:
    """An element's stripped text; None when the element is absent."""
    if el is None:
        return None
    t = el.text
    return t.strip() if isinstance(t, str) else ""


def _entries(root: Element) -> dict[str, dict[str, Element]]:
    """Interface name -> its leaves from both trees (RFC 7223 /interfaces-state and the
    NMDA /interfaces); a leaf in /interfaces-state wins over the same leaf in /interfaces.
    Entries without their key (name) cannot be told apart across polls and are skipped,
    unless they at least carry an if-index."""
    merged: dict[str, dict[str, Element]] = {}
    for tree in _IF_TREES:
        for container in root.iter(tree):
            for e in container.iterfind(_IF_ENTRY):
                leaves = {c.tag: c for c in e if isinstance(c.tag, str)}
                name = leaf_text(leaves.get(_IF + "name")) or leaf_text(
                    leaves.get(_IF + "if-index")
                )
                if name:
                    merged.setdefault(name, {}).update(leaves)
    return merged


def _interface(idx: int, name: str, leaves: dict[str, Element]) -> InterfaceState:
    # admin-status belongs to the optional if-mib feature; without it the configured
    # intent (enabled, default true) is the best we know.
    admin = leaf_text(leaves.get(_IF + "admin-status"))
    enabled = leaf_text(leaves.get(_IF + "enabled")) != "false"
    admin_up = admin == "up" if admin else enabled
    # A missing or unknown oper-status is UNKNOWN, never "down": it raises no alarm.
    oper = OPER_STATUS_VALUES.get(
        leaf_text(leaves.get(_IF + "oper-status")) or "", OperStatus.UNKNOWN
    )
    st = leaves.get(_IF + "statistics")
    stats = {} if st is None else {c.tag: c for c in st if isinstance(c.tag, str)}
    return InterfaceState(
        index=idx,
        name=name,
        admin_up=admin_up,
        oper_up=oper is OperStatus.UP,
        oper_status=oper,
        speed_bps=int_or_none(leaf_text(leaves.get(_IF + "speed"))) or 0,
        in_octets=int_or_none(leaf_text(stats.get(_IF + "in-octets"))) or 0,
        out_octets=int_or_none(leaf_text(stats.get(_IF + "out-octets"))) or 0,
        in_errors=int_or_none(leaf_text(stats.get(_IF + "in-errors"))) or 0,
        out_errors=int_or_none(leaf_text(stats.get(_IF + "out-errors"))) or 0,
    )


def interfaces(root: Element) -> dict[int, InterfaceState]:
    """Interfaces by ifIndex: the device's if-index where it gives a valid, unique one,
    else ``stable_index(name)`` (collisions resolved in name order, the same every poll)."""
    out: dict[int, InterfaceState] = {}
    derived: list[tuple[str, dict[str, Element]]] = []
    for name, leaves in _entries(root).items():
        idx = int_or_none(leaf_text(leaves.get(_IF + "if-index")))
        if idx is None or not 1 <= idx <= MAX_IF_INDEX or idx in out:
            derived.append((name, leaves))
        else:
            out[idx] = _interface(idx, name, leaves)
    for name, leaves in sorted(derived, key=lambda d: d[0]):
        idx = stable_index(name)
        while idx in out:  # at most len(out) steps
            idx = _DERIVED_BASE + (idx - _DERIVED_BASE + 1) % _DERIVED_SPAN
        out[idx] = _interface(idx, name, leaves)
    return out
