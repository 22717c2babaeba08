"""The topology's QGraphicsScene: a thin adapter that draws a ``shared.topology.Topology``
at the positions ``console.topolayout`` gives.

Built for 5,000 NEs: one C++-painted ellipse item per NE (no Python paint per frame), far
out one dot layer instead; labels at a fixed screen size, shown only when zoomed in; links
inside a group batched into a few path items, links between groups and "managed by" edges
bundled into trunks between clusters (console/topobundle.py), so an ownership move
rebuilds two agents' trunks and touches no node. Agents are the few items painted in
Python, at a fixed screen size so they stay landmarks at any zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from console.topobundle import Trunk, link_trunks, managed_trunks
from console.topolayout import SPACING, Layout, Point
from shared.model import Severity
from shared.topology import LinkKey, Topology, agent_id, colour_of

NODE = 10.0  # an NE's diameter in scene units
LINKS_PER_PATH = 1500  # smaller paths cull better when zoomed in
ROLE = Qt.ItemDataRole.UserRole  # item.data(0): the node id
AGENT_HUES = ("#4f9dff", "#c77dff", "#2ec4b6", "#ff8fab", "#ffd166", "#90be6d")
BACKGROUND = "#161b22"
LINK = QColor(150, 170, 195, 170)
LINK_ACROSS = QColor(120, 150, 185, 90)
STUB = SPACING * 0.8  # scene units of a link stub
MANAGED_ALPHA = 70
DIFF_DB = QColor("#ff5fd2")  # only in the database / other owner there
DIFF_MEM = QColor("#35e0ff")  # only in memory


def _pen(
    colour: QColor | str, width: float = 1.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine
) -> QPen:
    pen = QPen(QColor(colour), width, style)
    pen.setCosmetic(True)  # the same width in pixels at any zoom
    return pen


class AgentItem(QGraphicsItem):
    """An agent's badge: name, role, epoch and load, at a fixed size on screen."""

    W, H = 150.0, 46.0

    def __init__(self, node: str, hue: str) -> None:
        super().__init__()
        self.node, self.hue = node, QColor(hue)
        self.role, self.epoch, self.load, self.answered = "", 0, 0, True
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setData(0, agent_id(node))
        self.setZValue(10)
        # Its text costs a millisecond a frame; at a fixed size on screen the cached picture
        # holds through pan and zoom alike (``update()`` after a change renders it anew).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:
        return QRectF(-self.W / 2 - 3, -self.H / 2 - 3, self.W + 6, self.H + 6)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        rect = QRectF(-self.W / 2, -self.H / 2, self.W, self.H)
        master = self.role == "master"
        border = QColor("#ffd24a") if master else self.hue
        if not self.answered or self.role == "dead":
            border = QColor("#e5322d")
        painter.setPen(QPen(border, 3.0 if self.isSelected() else 2.0))
        painter.setBrush(QColor(30, 38, 50, 235))
        painter.drawRoundedRect(rect, 7, 7)
        painter.setPen(QColor("#f0f3f6"))
        f = QFont(painter.font())
        f.setBold(True)
        f.setPointSizeF(10.0)
        painter.setFont(f)
        painter.drawText(rect.adjusted(8, 4, -8, -24), Qt.AlignmentFlag.AlignLeft, self.node)
        painter.setPen(border)
        role = (self.role or "unknown").upper() if self.answered else "NO ANSWER"
        painter.drawText(rect.adjusted(8, 4, -8, -24), Qt.AlignmentFlag.AlignRight, role)
        f.setBold(False)
        f.setPointSizeF(8.5)
        painter.setFont(f)
        painter.setPen(QColor("#aeb8c4"))
        painter.drawText(
            rect.adjusted(8, 24, -8, -4),
            Qt.AlignmentFlag.AlignLeft,
            f"epoch {self.epoch} · {self.load:,} NEs",
        )


class CrispPath(QGraphicsPathItem):
    """Straight segments (a path of moveTo/lineTo pairs, as ``path()`` gives them) drawn in
    one ``drawLines`` call (wide pens), antialiased only when ``smooth`` (the links inside a group,
    zoomed in) whatever the view's hint: the long trunk edges cost most of a frame as an
    antialiased path (a wide pen strokes the whole path into one polygon to fill); as lines
    the raster painter spans each on its own and clips it to the screen. Give it an opaque
    pen (``solid``): a blend per pixel costs about four times a plain fill."""

    def __init__(self, path: QPainterPath, smooth: bool = False) -> None:
        super().__init__(path)
        self.smooth = smooth
        self._lines: list[QLineF] | None = None

    def setPath(self, path: QPainterPath) -> None:
        super().setPath(path)
        self._lines = None

    def segments(self) -> list[QLineF]:
        if self._lines is None:
            self._lines = _segments(self.path())
        return self._lines

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        aa = painter.testRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self.smooth)
        pen = self.pen()
        painter.setPen(pen)
        if pen.widthF() > 1.0:
            painter.drawLines(self.segments())
        else:  # a thin pen takes the same stroker either way, and a path converts once
            painter.drawPath(self.path())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, aa)  # the view saves no state


def _segments(path: QPainterPath) -> list[QLineF]:
    points = [path.elementAt(i) for i in range(path.elementCount())]
    return [QLineF(a.x, a.y, b.x, b.y) for a, b in zip(points[::2], points[1::2], strict=False)]


def solid(colour: QColor) -> QColor:
    """``colour`` as it shows over the scene's background, made opaque. Where two such
    lines cross the upper hides the lower instead of adding to it, which at 1-2 px and
    these alphas reads the same."""
    bg, a = QColor(BACKGROUND), colour.alphaF()
    return QColor.fromRgbF(
        colour.redF() * a + bg.redF() * (1 - a),
        colour.greenF() * a + bg.greenF() * (1 - a),
        colour.blueF() * a + bg.blueF() * (1 - a),
    )


class DotLayer(QGraphicsItem):
    """Every NE as one dot, for far out: a point cloud per colour in one C++ call each,
    instead of thousands of items (which hide at that level)."""

    def __init__(self) -> None:
        super().__init__()
        self.clouds: list[tuple[QPen, QPolygonF]] = []
        self.rect = QRectF()
        self.setZValue(5)

    def set_points(self, by_colour: Mapping[tuple[str, float], list[Point]]) -> None:
        self.prepareGeometryChange()
        self.clouds = []
        xs, ys = [], []
        for (colour, size), points in sorted(by_colour.items(), key=lambda kv: kv[0][1]):
            pen = QPen(QColor(colour), size)
            pen.setCosmetic(True)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap if size > 3 else Qt.PenCapStyle.SquareCap)
            self.clouds.append((pen, QPolygonF([QPointF(x, y) for x, y in points])))
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
        if xs:
            self.rect = QRectF(
                min(xs) - NODE,
                min(ys) - NODE,
                max(xs) - min(xs) + 2 * NODE,
                max(ys) - min(ys) + 2 * NODE,
            )
        self.update()

    def boundingRect(self) -> QRectF:
        return self.rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        for pen, points in self.clouds:
            painter.setPen(pen)
            painter.drawPoints(points)


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
        self._outline = _pen("#0b0f14", 1.0)
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
            self._add_links(path, _pen(solid(LINK)), 2.0, "inside")
        for width, path in _trunk_paths(link_trunks(topo, outer, self.positions, group)).items():
            self._add_links(path, _pen(solid(LINK_ACROSS), width), 1.5, "trunk")
        stubs = QPainterPath()
        for a, _, b, _ in outer:
            pa, pb = self.positions[a], self.positions[b]
            for (x, y), (u, v) in ((pa, pb), (pb, pa)):
                d = math.hypot(u - x, v - y) or 1.0
                stubs.moveTo(x, y)
                stubs.lineTo(x + (u - x) / d * STUB, y + (v - y) / d * STUB)
        self._add_links(stubs, _pen(solid(LINK)), 2.0, "stub").setVisible(self.labels_shown)

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
                item.setPen(_pen(solid(colour), width))
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
            item = self.addPath(path, _pen(colour, width))
            item.setZValue(6)
            self.marks.append(item)

    def mark_links(self, keys: Iterable[LinkKey], colour: QColor, width: float = 2.0) -> None:
        path = QPainterPath()
        for a, _, b, _ in keys:
            if a in self.positions and b in self.positions:
                path.moveTo(*self.positions[a])
                path.lineTo(*self.positions[b])
        if not path.isEmpty():
            item = self.addPath(path, _pen(colour, width, Qt.PenStyle.DashLine))
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
