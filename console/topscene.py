"""The topology's QGraphicsScene: a thin adapter that draws a ``shared.topology.Topology``
at the positions ``console.topolayout`` gives.

Built for 5,000 NEs: one C++-painted ellipse item per NE (no Python paint per frame), far
out one dot layer instead; labels at a fixed screen size, shown only when zoomed in; links
inside a group batched into a few path items, links between groups and "managed by" edges
bundled into trunks between clusters (console/topobundle.py), so an ownership move
rebuilds two agents' trunks and touches no node; every edge an opaque line, antialiased
only with the labels (console/topoitems.py says why). Agents are the few items painted in
Python, at a fixed screen size so they stay landmarks at any zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
)

from console.topobundle import Trunk, link_trunks, managed_trunks
from console.topoitems import BACKGROUND, NODE, AgentItem, CrispPath, DotLayer, cosmetic_pen, solid
from console.topolayout import SPACING, Layout, Point
from shared.model import Severity
from shared.topology import LinkKey, Topology, agent_id, colour_of

LINKS_PER_PATH = 1500  # smaller paths cull better when zoomed in
ROLE = Qt.ItemDataRole.UserRole  # item.data(0): the node id
AGENT_HUES = ("#4f9dff", "#c77dff", "#2ec4b6", "#ff8fab", "#ffd166", "#90be6d")
LINK = QColor(150, 170, 195, 170)
LINK_ACROSS = QColor(120, 150, 185, 90)
STUB = SPACING * 0.8  # scene units of a link stub
MANAGED_ALPHA = 70
DIFF_DB = QColor("#ff5fd2")  # only in the database / other owner there
DIFF_MEM = QColor("#35e0ff")  # only in memory


class TopoScene(QGraphicsScene):
    """Items for one topology; ``show`` brings them in line with a new one, touching only
    what changed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setBackgroundBrush(QColor(BACKGROUND))
        self.nodes: dict[str, QGraphicsEllipseItem] = {}
        self.labels: dict[str, QGraphicsSimpleTextItem] = {}
        self.agents: dict[str, AgentItem] = {}
        self.managed: dict[str, list[QGraphicsPathItem]] = {}  # agent -> its "managed by" edges
        self.group: dict[str, str] = {}  # NE -> its layout group
        self.link_paths: list[QGraphicsPathItem] = []
        self.marks: list[QGraphicsPathItem] = []  # differences, selection
        self.topology: Topology | None = None
        self.positions: dict[str, Point] = {}
        self.labels_shown = False
        self._outline = cosmetic_pen("#0b0f14", 1.0)
        self.dots = DotLayer()
        self.dots.setVisible(False)
        self.addItem(self.dots)
        self.far = False
        # Nodes and labels each under one parent: a level switch is one setVisible, not
        # thousands (a child is hidden with its parent).
        self.node_layer, self.label_layer = _layer(5), _layer(7)
        self.label_layer.setVisible(False)
        self.addItem(self.node_layer)
        self.addItem(self.label_layer)
        self._label_font = QFont()
        self._label_font.setPointSizeF(7.5)
        self._brushes: dict[str, QBrush] = {}
        self._painted: dict[str, str] = {}  # NE -> the colour its item has

    # -- building ------------------------------------------------------------------------
    def show(self, topo: Topology, lay: Layout, worst: Mapping[str, Severity]) -> None:
        old, before = self.topology, self.positions
        self.topology, self.positions = topo, lay.positions
        for name in [n for n in self.nodes if n not in topo.nes]:
            self.removeItem(self.nodes.pop(name))
            self.removeItem(self.labels.pop(name))
            self._painted.pop(name, None)
        for name, ne in topo.nes.items():
            item = self.nodes.get(name)
            if item is None:
                item = self._node(name, ne.external)
            elif before.get(name) == lay.positions[name]:
                continue
            x, y = lay.positions[name]
            item.setPos(x, y)
            self.labels[name].setPos(x, y)
        self.colour(worst, moved=before != lay.positions)
        self.group = dict(lay.group)
        for node in [n for n in self.agents if n not in topo.agents]:
            self.removeItem(self.agents.pop(node))
        for i, (node, a) in enumerate(sorted(topo.agents.items())):
            badge = self.agents.get(node)
            if badge is None:
                badge = self.agents[node] = AgentItem(node, AGENT_HUES[i % len(AGENT_HUES)])
                self.addItem(badge)
            badge.role, badge.epoch, badge.load, badge.answered = (
                a.state,
                a.epoch,
                a.load,
                a.answered,
            )
            badge.setPos(*lay.positions[a.id])
            badge.update()
        if old is None or old.links != topo.links or before != lay.positions:
            self._links(topo, lay.group)
        self.rebuild_managed(topo.agents)

    def _node(self, name: str, external: bool) -> QGraphicsEllipseItem:
        d = NODE * (0.7 if external else 1.0)
        item = QGraphicsEllipseItem(-d / 2, -d / 2, d, d)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        item.setData(0, name)
        item.setZValue(5)
        item.setPen(self._outline)
        item.setParentItem(self.node_layer)
        label = QGraphicsSimpleTextItem(name)
        label.setBrush(QColor("#cfd8e3"))
        label.setFont(self._label_font)
        # A fixed size on screen: zooming in parts crowded labels instead of growing them.
        label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        label.setTransform(QTransform.fromTranslate(-label.boundingRect().width() / 2, 6))
        label.setParentItem(self.label_layer)
        self.nodes[name], self.labels[name] = item, label
        return item

    def colour(self, worst: Mapping[str, Severity], moved: bool = False) -> None:
        """Fill each NE with its worst standing alarm's colour; only the NEs whose colour
        changed are touched (alarm bursts come often), the dot layer only if any did or
        nodes ``moved``."""
        topo = self.topology
        if topo is None:
            return
        changed = moved
        for name, item in self.nodes.items():
            hexa = colour_of(topo.nes[name], worst)
            if self._painted.get(name) == hexa:
                continue
            changed = True
            self._painted[name] = hexa
            brush = self._brushes.get(hexa)
            if brush is None:
                brush = self._brushes[hexa] = QBrush(QColor(hexa))
            item.setBrush(brush)
            # Alarmed NEs drawn larger and on top: what a NOC must spot from far out.
            sev = worst.get(name, Severity.CLEARED)
            d = NODE * (1.9 if sev >= Severity.MAJOR else 1.4 if sev >= Severity.MINOR else 1.0)
            if topo.nes[name].external:
                d *= 0.7
            item.setRect(-d / 2, -d / 2, d, d)
            item.setZValue(5 + int(sev))
        if changed:
            self._dots(worst)

    def _dots(self, worst: Mapping[str, Severity]) -> None:
        topo = self.topology
        if topo is None:
            return
        clouds: dict[tuple[str, float], list[Point]] = {}
        for name, ne in topo.nes.items():
            sev = worst.get(name, Severity.CLEARED)
            size = 5.0 if sev >= Severity.MAJOR else 4.0 if sev >= Severity.MINOR else 3.0
            clouds.setdefault((colour_of(ne, worst), size), []).append(self.positions[name])
        self.dots.set_points(clouds)

    def _links(self, topo: Topology, group: Mapping[str, str]) -> None:
        """Links inside a group one by one; links between groups (by agent most sites span
        every agent) as trunks between clusters, and as short stubs at each end when zoomed
        in, so an NE shows it has a link leaving without a line across the whole plane."""
        for p in self.link_paths:
            self.removeItem(p)
        self.link_paths = []
        self.group = dict(group)
        inner = sorted(k for k in topo.links if group.get(k[0]) == group.get(k[2]))
        outer = sorted(k for k in topo.links if group.get(k[0]) != group.get(k[2]))
        for start in range(0, len(inner), LINKS_PER_PATH):
            path = QPainterPath()
            for a, _, b, _ in inner[start : start + LINKS_PER_PATH]:
                path.moveTo(*self.positions[a])
                path.lineTo(*self.positions[b])
            self._add_links(path, cosmetic_pen(solid(LINK)), 2.0, "inside")
        for width, path in _trunk_paths(link_trunks(topo, outer, self.positions, group)).items():
            self._add_links(path, cosmetic_pen(solid(LINK_ACROSS), width), 1.5, "trunk")
        stubs = QPainterPath()
        for a, _, b, _ in outer:
            pa, pb = self.positions[a], self.positions[b]
            for (x, y), (u, v) in ((pa, pb), (pb, pa)):
                d = math.hypot(u - x, v - y) or 1.0
                stubs.moveTo(x, y)
                stubs.lineTo(x + (u - x) / d * STUB, y + (v - y) / d * STUB)
        self._add_links(stubs, cosmetic_pen(solid(LINK)), 2.0, "stub").setVisible(self.labels_shown)

    def _add_links(self, path: QPainterPath, pen: QPen, z: float, kind: str) -> QGraphicsPathItem:
        # Trunks stay crisp at any zoom; links inside a group are smoothed with the labels.
        item = CrispPath(path, smooth=kind != "trunk" and self.labels_shown)
        item.setPen(pen)
        self.addItem(item)
        item.setZValue(z)
        item.setData(1, kind)
        self.link_paths.append(item)
        return item

    def rebuild_managed(self, agents: Iterable[str]) -> None:
        """Redraw the "managed by" edges of these agents (after an ownership move): one
        trunk per cluster of NEs each manages."""
        topo = self.topology
        if topo is None:
            return
        want = set(agents)
        for node in list(self.managed):
            if node in want or node not in topo.agents:
                for item in self.managed.pop(node):
                    self.removeItem(item)
        for node in sorted(want):
            if agent_id(node) not in self.positions:
                continue
            badge = self.agents.get(node)
            colour = QColor(badge.hue if badge else "#888888")
            colour.setAlpha(MANAGED_ALPHA)
            items: list[QGraphicsPathItem] = []
            trunks = managed_trunks(topo, node, self.positions, self.group)
            for width, path in _trunk_paths(trunks).items():
                item = CrispPath(path)
                item.setPen(cosmetic_pen(solid(colour), width))
                self.addItem(item)
                item.setZValue(1)
                item.setData(0, f"managed-by:{node}")
                items.append(item)
            self.managed[node] = items

    def move_owners(self, topo: Topology, changes: Mapping[str, str]) -> None:
        """NEs now managed by other agents: same positions, their two agents' edges redrawn."""
        old = self.topology
        if old is None:
            return
        touched = {old.nes[n].owner for n in changes if n in old.nes} | set(changes.values())
        self.topology = topo
        for node, a in topo.agents.items():
            if node in self.agents:
                self.agents[node].load = a.load
                self.agents[node].update()
        self.rebuild_managed(
            t for t in touched if t in topo.agents and agent_id(t) in self.positions
        )

    # -- marks ---------------------------------------------------------------------------
    def clear_marks(self) -> None:
        for m in self.marks:
            self.removeItem(m)
        self.marks = []

    def mark_nodes(self, names: Iterable[str], colour: QColor, width: float = 2.0) -> None:
        path = QPainterPath()
        r = NODE * 0.95
        for n in names:
            if n in self.positions:
                x, y = self.positions[n]
                path.addEllipse(QPointF(x, y), r, r)
        if not path.isEmpty():
            item = self.addPath(path, cosmetic_pen(colour, width))
            item.setZValue(6)
            self.marks.append(item)

    def mark_links(self, keys: Iterable[LinkKey], colour: QColor, width: float = 2.0) -> None:
        path = QPainterPath()
        for a, _, b, _ in keys:
            if a in self.positions and b in self.positions:
                path.moveTo(*self.positions[a])
                path.lineTo(*self.positions[b])
        if not path.isEmpty():
            item = self.addPath(path, cosmetic_pen(colour, width, Qt.PenStyle.DashLine))
            item.setZValue(3)
            self.marks.append(item)

    # -- level of detail -----------------------------------------------------------------
    def set_detail(self, labels: bool, far: bool) -> None:
        """Switched by the view when its zoom crosses a level, never per frame: labels and
        link stubs only when zoomed in; far out the NEs are the dot layer's points."""
        if labels != self.labels_shown:
            self.labels_shown = labels
            self.label_layer.setVisible(labels)
            for links in self.link_paths:
                if links.data(1) == "stub":
                    links.setVisible(labels)
                if isinstance(links, CrispPath) and links.data(1) != "trunk":
                    # Antialiasing thousands of short links costs a third of a mid-zoom
                    # frame; at 1 px and that zoom the jags do not show.
                    links.smooth = labels
                    links.update()
        if far != self.far:
            self.far = far
            self.dots.setVisible(far)
            self.node_layer.setVisible(not far)


def _layer(z: float) -> QGraphicsRectItem:
    layer = QGraphicsRectItem()
    layer.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
    layer.setZValue(z)
    return layer


def _trunk_paths(trunks: Iterable[Trunk]) -> dict[float, QPainterPath]:
    """Trunks by (rounded) width: one path item per width."""
    out: dict[float, QPainterPath] = {}
    for t in trunks:
        path = out.setdefault(round(t.width), QPainterPath())
        path.moveTo(*t.a)
        path.lineTo(*t.b)
    return out
