"""Edge bundling for the topology at scale: thousands of long edges (every "managed by"
edge, every link between two agents' groups) cost a frame each and read as grey fog, so
they are drawn as one trunk per pair of clusters (the NEs of one site in one group), from
centroid to centroid, its width growing with how many edges it stands for. A cluster of
one NE is the NE itself: a single moved NE keeps its own edge. Qt-free."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from console.topolayout import Point
from shared.topology import LinkKey, Topology, agent_id

WIDE = 8  # edges a trunk stands for from which it is drawn wider


@dataclass(frozen=True, slots=True)
class Trunk:
    a: Point
    b: Point
    count: int

    @property
    def width(self) -> float:
        """Pixels: 1 for a few edges, 2 for a bundle (wide lines cost a polygon fill each
        on the raster painter, so the scale stops there)."""
        return 1.0 if self.count < WIDE else 2.0


def _bundle(ends: Iterable[tuple[Hashable, Hashable, Point, Point]]) -> list[Trunk]:
    sums: dict[tuple[Hashable, Hashable], list[float]] = {}
    for ka, kb, pa, pb in ends:
        s = sums.setdefault((ka, kb), [0.0, 0.0, 0.0, 0.0, 0.0])
        s[0] += pa[0]
        s[1] += pa[1]
        s[2] += pb[0]
        s[3] += pb[1]
        s[4] += 1
    return [
        Trunk((s[0] / s[4], s[1] / s[4]), (s[2] / s[4], s[3] / s[4]), int(s[4]))
        for _, s in sorted(sums.items(), key=lambda kv: repr(kv[0]))
    ]


def cluster(topo: Topology, name: str, group: Mapping[str, str]) -> tuple[str, str]:
    return (group.get(name, ""), topo.nes[name].site)


def managed_trunks(
    topo: Topology, owner: str, positions: Mapping[str, Point], group: Mapping[str, str]
) -> list[Trunk]:
    """``owner``'s "managed by" edges, one trunk per cluster of the NEs it manages."""
    home = positions[agent_id(owner)]
    return _bundle(
        (owner, cluster(topo, n.name, group), home, positions[n.name])
        for n in topo.nes.values()
        if n.owner == owner and n.name in positions
    )


def link_trunks(
    topo: Topology,
    keys: Iterable[LinkKey],
    positions: Mapping[str, Point],
    group: Mapping[str, str],
) -> list[Trunk]:
    """Links between groups, one trunk per pair of clusters."""
    ends = []
    for a, _, b, _ in keys:
        ca, cb = cluster(topo, a, group), cluster(topo, b, group)
        if ca <= cb:
            ends.append((ca, cb, positions[a], positions[b]))
        else:
            ends.append((cb, ca, positions[b], positions[a]))
    return _bundle(ends)
