"""Lab topologies as pure data: which simulated device is wired to which.

No I/O here. A topology is a list of devices (name, kind, port count) and a
list of point-to-point links between distinct ports; the recordings derive
both ends' LLDP tables from the same link, so neighbours always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TOPOLOGIES = ("ring", "mesh", "leaf-spine")

ROUTER = "router"
SWITCH = "switch"
PORTS = {ROUTER: 24, SWITCH: 48}

# Partial mesh: each device links to the next MESH_REACH devices around the
# circle, so the degree stays at most 2 * MESH_REACH whatever the count.
MESH_REACH = 2
# Leaf-spine: a leaf uplinks to at most this many spines, and a spine takes at
# most SPINE_FANOUT leaves, so big labs add spines instead of running out of ports.
LEAF_UPLINKS = 2
SPINE_FANOUT = 40


@dataclass(frozen=True, slots=True)
class DevicePlan:
    name: str
    kind: str  # ROUTER or SWITCH
    ports: int


@dataclass(frozen=True, slots=True)
class Link:
    """A cable between two ports (ifIndex values, 1-based) of two devices."""

    a: str
    port_a: int
    b: str
    port_b: int

    def ends(self) -> tuple[tuple[str, int], tuple[str, int]]:
        return (self.a, self.port_a), (self.b, self.port_b)


@dataclass(frozen=True, slots=True)
class Topology:
    kind: str
    devices: tuple[DevicePlan, ...]
    links: tuple[Link, ...] = field(default=())

    def neighbours(self, name: str) -> dict[int, tuple[str, int]]:
        """Local ifIndex -> (remote device, remote ifIndex) for one device."""
        out: dict[int, tuple[str, int]] = {}
        for link in self.links:
            if link.a == name:
                out[link.port_a] = (link.b, link.port_b)
            if link.b == name:
                out[link.port_b] = (link.a, link.port_a)
        return out


def device_name(kind: str, number: int) -> str:
    return f"{'rtr' if kind == ROUTER else 'sw'}{number:03d}"


def spine_count(count: int) -> int:
    """Spines for a leaf-spine lab of ``count`` devices (at least 1, leaves >= 1)."""
    if count < 2:
        raise ValueError("leaf-spine needs at least 2 devices")
    spines = 1 if count < 4 else 2
    while spines < count - 1:
        leaves = count - spines
        if math.ceil(leaves * min(LEAF_UPLINKS, spines) / spines) <= SPINE_FANOUT:
            break
        spines += 1
    return spines


def _pairs(topology: str, count: int) -> list[tuple[int, int]]:
    if topology == "ring":
        if count < 2:
            return []
        if count == 2:
            return [(0, 1)]
        return [(i, (i + 1) % count) for i in range(count)]
    if topology == "mesh":
        seen: set[frozenset[int]] = set()
        pairs: list[tuple[int, int]] = []
        for i in range(count):
            for step in range(1, MESH_REACH + 1):
                j = (i + step) % count
                key = frozenset((i, j))
                if i != j and key not in seen:
                    seen.add(key)
                    pairs.append((i, j))
        return pairs
    if topology == "leaf-spine":
        spines = spine_count(count)
        pairs = []
        for leaf in range(spines, count):
            uplinks = min(LEAF_UPLINKS, spines)
            # Round-robin the uplinks so spines share the leaves evenly.
            first = (leaf - spines) * uplinks
            for k in range(uplinks):
                pairs.append(((first + k) % spines, leaf))
        return pairs
    raise ValueError(f"unknown topology {topology!r} (expected one of {', '.join(TOPOLOGIES)})")


def _kinds(topology: str, count: int) -> list[str]:
    if topology == "leaf-spine":
        return [SWITCH] * count
    # Pairs (router, router, switch, switch, ...) so small labs mix both kinds, and
    # the lab's every-other-device v3 choice lands on routers and switches alike.
    return [ROUTER if (i // 2) % 2 == 0 else SWITCH for i in range(count)]


def build(topology: str, count: int) -> Topology:
    """Plan ``count`` devices wired as ``topology``; ports are assigned in order from 1."""
    if count < 1:
        raise ValueError("a lab needs at least one device")
    pairs = _pairs(topology, count)
    kinds = _kinds(topology, count)
    numbers: dict[str, int] = {}
    names: list[str] = []
    for kind in kinds:
        numbers[kind] = numbers.get(kind, 0) + 1
        names.append(device_name(kind, numbers[kind]))
    devices = tuple(DevicePlan(n, k, PORTS[k]) for n, k in zip(names, kinds, strict=True))
    next_port = [1] * count
    links: list[Link] = []
    for i, j in pairs:
        for end in (i, j):
            if next_port[end] > devices[end].ports:
                raise ValueError(f"{devices[end].name} has no free port left for {topology}")
        links.append(Link(names[i], next_port[i], names[j], next_port[j]))
        next_port[i] += 1
        next_port[j] += 1
    return Topology(topology, devices, tuple(links))


def validate(topo: Topology) -> None:
    """Raise ValueError unless every port is used at most once and exists."""
    ports = {d.name: d.ports for d in topo.devices}
    used: set[tuple[str, int]] = set()
    for link in topo.links:
        if link.a == link.b:
            raise ValueError(f"self-link on {link.a}")
        for end in link.ends():
            name, port = end
            if name not in ports or not 1 <= port <= ports[name]:
                raise ValueError(f"no port {port} on {name}")
            if end in used:
                raise ValueError(f"port {port} of {name} used twice")
            used.add(end)
