"""Where each node of the topology is drawn: NEs grouped in a disc around their managing
agent (or by site), each disc laid out by igraph's Fruchterman-Reingold on the links inside
it, and positions kept from one refresh to the next.

Stability is the rule operators rely on (they learn where things are): a node placed once
keeps its position for as long as it exists, whatever moved around it; an NE whose owner
changed stays where it is (its "managed by" edge moves, not the node). Only new nodes are
placed: next to the neighbours they already have on the plane, or in a free spot of their
group's disc; a group with no node placed yet (a new agent or site) is laid out whole in a
new disc beside the others. ``relayout`` starts from nothing.

Deterministic: the same graph gives the same picture (igraph is seeded from the names).
Qt-free (igraph only), so it is unit-tested without a display.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import igraph

from shared.topology import LinkEdge, Topology, adjacency, agent_id

Adjacency = dict[str, list[LinkEdge]]

BY_AGENT = "agent"
BY_SITE = "site"
SPACING = 34.0  # scene units between neighbouring NEs (a node is 10 across)
HOLE = 3.0  # the agent's clear space at its disc's centre, in spacings
GAP = 4.0  # between discs, in spacings
HUB_PULL = 0.15  # attraction of a site's hidden hub, against 1 for a link
UNASSIGNED = ""  # the group of NEs without an owner (or without a site)

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Disc:
    x: float
    y: float
    r: float


@dataclass(slots=True)
class Layout:
    group_by: str = BY_AGENT
    positions: dict[str, Point] = field(default_factory=dict)  # node id -> centre
    discs: dict[str, Disc] = field(default_factory=dict)  # group -> where it sits
    placed_new: int = 0  # how many nodes the last update placed (the rest kept theirs)
    group: dict[str, str] = field(default_factory=dict)  # NE -> its group now


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def group_of(topology: Topology, ne: str, group_by: str, adj: Adjacency) -> str:
    n = topology.nes[ne]
    if group_by == BY_SITE:
        return n.site
    if n.external:  # outside the pool: in the group of an NE that sees it
        for e in adj.get(ne, ()):
            other = topology.nes[e.b if e.a == ne else e.a]
            if not other.external:
                return other.owner
    return n.owner


def groups(topology: Topology, group_by: str, adj: Adjacency) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ne in sorted(topology.nes):
        out.setdefault(group_of(topology, ne, group_by, adj), []).append(ne)
    if group_by == BY_AGENT:
        for node in topology.agents:  # an agent with no NE still gets its (small) disc
            out.setdefault(node, [])
    return out


def _radius(count: int) -> float:
    return SPACING * (math.sqrt(count / math.pi) * 1.4 + HOLE + 1.0)


def _angle(text: str) -> float:
    return (_seed(text) % 3600) / 3600 * 2 * math.pi


def _disc_layout(
    names: list[str], adj: Adjacency, disc: Disc, sites: dict[str, str]
) -> dict[str, Point]:
    """One group's NEs in its disc: FR on the links among them, scaled into the ring between
    the agent's clear space at the centre and the rim. An agent's share of a site is only
    a few fragments of the site's network: each site gets a hidden hub tied to its NEs so
    its fragments sit together instead of scattering over the disc."""
    if not names:
        return {}
    index = {n: i for i, n in enumerate(names)}
    edges = {
        (min(index[e.a], index[e.b]), max(index[e.a], index[e.b]))
        for n in names
        for e in adj.get(n, ())
        if e.a in index and e.b in index and e.a != e.b
    }
    hubs: dict[str, int] = {}
    for n in names:
        site = sites.get(n, "")
        if site:
            hub = hubs.setdefault(site, len(names) + len(hubs))
            edges.add((index[n], hub))
    if len(hubs) < 2:  # one site or none: a hub would only pull the disc into a ball
        edges = {(a, b) for a, b in edges if b < len(names)}
        hubs = {}
    count = len(names) + len(hubs)
    ordered = sorted(edges)
    g = igraph.Graph(n=count, edges=ordered)
    # The hubs pull gently: a real link says more about where an NE belongs than its site.
    weights = [HUB_PULL if b >= len(names) else 1.0 for _, b in ordered]
    rng = random.Random(_seed(f"{len(names)}|{names[0]}|{names[-1]}"))
    # Spread like igraph's own random start: packed tighter, FR's grid cells overflow and
    # the repulsion goes quadratic.
    half = math.sqrt(count) / 2
    seed = [[rng.uniform(-half, half), rng.uniform(-half, half)] for _ in range(count)]
    igraph.set_random_number_generator(rng)  # igraph draws from it: same graph, same picture
    try:
        coords = g.layout_fruchterman_reingold(
            weights=weights, seed=seed, niter=300, grid="auto"
        ).coords
    finally:
        igraph.set_random_number_generator(random)
    coords = coords[: len(names)]
    cx = sum(c[0] for c in coords) / len(coords)
    cy = sum(c[1] for c in coords) / len(coords)
    dists = sorted(math.hypot(c[0] - cx, c[1] - cy) for c in coords)
    far = dists[int(0.97 * (len(dists) - 1))] or 1.0
    hole, rim = HOLE * SPACING, disc.r - SPACING
    out: dict[str, Point] = {}
    for name, (x, y) in zip(names, coords, strict=True):
        dx, dy = x - cx, y - cy
        d = math.hypot(dx, dy)
        if d < 1e-9:
            dx, dy, d = math.cos(_angle(name)), math.sin(_angle(name)), 1.0
        r = hole + min(d / far, 1.0) * (rim - hole)
        out[name] = (disc.x + dx / d * r, disc.y + dy / d * r)
    # FR lets NEs with the same neighbours (the leaves of one spine pair) fall on one spot,
    # and never parts them again: each takes the nearest free spot instead.
    grid = _Grid((), SPACING * 0.8)
    return {name: grid.free_near(p) for name, p in out.items()}


def _pack(sizes: dict[str, float], taken: list[Disc]) -> dict[str, Disc]:
    """Discs for groups not on the plane yet: on a first layout, a ring around the origin
    (largest first, clockwise from the top); later, each one outside all there is."""
    out: dict[str, Disc] = {}
    order = sorted(sizes, key=lambda g: (-sizes[g], g))
    gap = GAP * SPACING
    if not taken and len(order) == 1:
        return {order[0]: Disc(0.0, 0.0, sizes[order[0]])}
    if not taken and order:
        biggest = max(sizes.values())
        total = sum(2 * sizes[g] + gap for g in order)
        # Neighbours on the ring are a chord apart, not an arc: no overlap for equal discs.
        ring = max(total / (2 * math.pi), (biggest + gap / 2) / math.sin(math.pi / len(order)))
        angle = -math.pi / 2
        for g in order:
            step = (2 * sizes[g] + gap) / total * 2 * math.pi  # the ring's share of the disc
            angle += step / 2
            out[g] = Disc(ring * math.cos(angle), ring * math.sin(angle), sizes[g])
            angle += step / 2
        return out
    placed = list(taken)
    for g in order:
        extent = max((math.hypot(d.x, d.y) + d.r for d in placed), default=0.0)
        dist = extent + gap + sizes[g]
        disc = Disc(dist * math.cos(_angle(g)), dist * math.sin(_angle(g)), sizes[g])
        out[g] = disc
        placed.append(disc)
    return out


class _Grid:
    """Points on the plane, to find a free spot (no point closer than ``size``) near a
    wanted one."""

    def __init__(self, points: Iterable[Point], size: float = SPACING) -> None:
        self.size = size
        self.cells: dict[tuple[int, int], list[Point]] = {}
        for p in points:
            self._add(p)

    def _cell(self, p: Point) -> tuple[int, int]:
        return (math.floor(p[0] / self.size), math.floor(p[1] / self.size))

    def _add(self, p: Point) -> None:
        self.cells.setdefault(self._cell(p), []).append(p)

    def free(self, p: Point) -> bool:
        # Plain loops, not a generator: called ~50,000 times on a first 5,000-NE layout.
        cx, cy = self._cell(p)
        x, y, size, cells = p[0], p[1], self.size, self.cells
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for qx, qy in cells.get((cx + dx, cy + dy), ()):
                    if math.hypot(qx - x, qy - y) < size:
                        return False
        return True

    def free_near(self, p: Point, limit: int = 20000) -> Point:
        q = p
        for i in range(limit):  # golden-angle spiral outwards from p: the first free spot
            r = self.size * 0.5 * math.sqrt(i)
            a = i * 2.399963229728653
            q = (p[0] + r * math.cos(a), p[1] + r * math.sin(a))
            if self.free(q):
                break
        self._add(q)
        return q


def layout(topology: Topology, previous: Layout | None = None, group_by: str = BY_AGENT) -> Layout:
    """Positions of every node of ``topology``: those ``previous`` has (same grouping) are
    kept, the others placed."""
    if previous is None or previous.group_by != group_by:
        previous = Layout(group_by)
    adj = adjacency(topology)
    members = groups(topology, group_by, adj)
    sites = {n.name: n.site for n in topology.nes.values() if n.site}
    alive = {a.id for a in topology.agents.values()}
    positions = {n: p for n, p in previous.positions.items() if n in topology.nes or n in alive}
    discs = dict(previous.discs)
    fresh = {
        g: _radius(len(names))
        for g, names in members.items()
        if g not in discs and not any(n in positions for n in names)
    }
    discs.update(_pack(fresh, list(discs.values())))
    placed = 0
    for g in sorted(fresh):
        new = _disc_layout(members[g], adj, discs[g], sites if group_by == BY_AGENT else {})
        positions.update(new)
        placed += len(new)
    placed += _place_newcomers(members, adj, discs, positions)
    if group_by == BY_AGENT:
        for node in topology.agents:
            disc = discs[node]
            positions[agent_id(node)] = (disc.x, disc.y)
    else:
        _agent_column(topology, discs, positions)
    group = {n: g for g, names in members.items() for n in names}
    return Layout(group_by, positions, discs, placed, group)


def _place_newcomers(
    members: dict[str, list[str]],
    adj: Adjacency,
    discs: dict[str, Disc],
    positions: dict[str, Point],
) -> int:
    """New NEs of groups already on the plane: next to their placed neighbours (a chain of
    new NEs grows from its anchor, so up to ``len`` rounds), else a free spot in the disc."""
    grid = _Grid(positions.values())
    placed = 0
    for g, names in sorted(members.items()):
        todo = [n for n in names if n not in positions]
        for _ in range(len(todo)):
            anchored = []
            for n in todo:
                near = [positions[o] for o in _others(adj.get(n, ()), n) if o in positions]
                if near:
                    anchored.append((n, _mean(near)))
            if not anchored:
                break
            for n, want in anchored:
                positions[n] = grid.free_near(want)
            done = {n for n, _ in anchored}
            todo = [n for n in todo if n not in done]
            placed += len(done)
        for n in todo:
            positions[n] = grid.free_near(_disc_spot(discs.get(g), n))
            placed += 1
    return placed


def _others(edges: Iterable[LinkEdge], name: str) -> list[str]:
    return [e.b if e.a == name else e.a for e in edges]


def _mean(points: list[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _disc_spot(disc: Disc | None, name: str) -> Point:
    if disc is None:
        return (0.0, 0.0)
    room = max(disc.r - (HOLE + 2) * SPACING, 0.0)
    r = (HOLE + 1) * SPACING + (_seed(name + "/r") % 1000) / 1000 * room
    return (disc.x + r * math.cos(_angle(name)), disc.y + r * math.sin(_angle(name)))


def _agent_column(topology: Topology, discs: dict[str, Disc], positions: dict[str, Point]) -> None:
    """By site the agents stand in a column left of every disc (their edges cross sites);
    one already placed keeps its spot."""
    left = min((d.x - d.r for d in discs.values()), default=0.0) - 10 * SPACING
    top = min((d.y - d.r for d in discs.values()), default=0.0)
    for i, node in enumerate(sorted(topology.agents)):
        positions.setdefault(agent_id(node), (left, top + i * 8 * SPACING))
