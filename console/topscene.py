"""The topology's QGraphicsScene: a thin adapter that draws a ``shared.topology.Topology``
at the positions ``console.topolayout`` gives.

Built for 5,000 NEs: one C++-painted ellipse item per NE (no Python paint per frame), its
label a child text item shown only when zoomed in, and the edges batched into a few path
items (links in chunks, "managed by" one path per agent, so an ownership move rebuilds two
paths and touches no node). Agents are the few items painted in Python, drawn at a fixed
screen size so they stay landmarks at any zoom.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from console.topolayout import Layout, Point
from shared.model import Severity
from shared.topology import LinkKey, Topology, agent_id, colour_of

NODE = 10.0  # an NE's diameter in scene units
LINKS_PER_PATH = 1500  # smaller paths cull better when zoomed in
ROLE = Qt.ItemDataRole.UserRole  # item.data(0): the node id
AGENT_HUES = ("#4f9dff", "#c77dff", "#2ec4b6", "#ff8fab", "#ffd166", "#90be6d")
BACKGROUND = "#161b22"
LINK = QColor(150, 170, 195, 170)
LINK_ACROSS = QColor(120, 140, 165, 55)
MANAGED_ALPHA = 38
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


class TopoScene(QGraphicsScene):
    """Items for one topology; ``show`` brings them in line with a new one, touching only
    what changed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setBackgroundBrush(QColor(BACKGROUND))
        self.nodes: dict[str, QGraphicsEllipseItem] = {}
        self.labels: dict[str, QGraphicsSimpleTextItem] = {}
        self.agents: dict[str, AgentItem] = {}
        self.managed: dict[str, QGraphicsPathItem] = {}  # agent -> its "managed by" edges
        self.link_paths: list[QGraphicsPathItem] = []
        self.marks: list[QGraphicsPathItem] = []  # differences, selection
        self.topology: Topology | None = None
        self.positions: dict[str, Point] = {}
        self.labels_shown = False
        self.outlines = True
        self.across_shown = True
        self._outline = _pen("#0b0f14", 1.0)
        self._brushes: dict[str, QBrush] = {}

    # -- building ------------------------------------------------------------------------
    def show(self, topo: Topology, lay: Layout, worst: Mapping[str, Severity]) -> None:
        old, before = self.topology, self.positions
        self.topology, self.positions = topo, lay.positions
        for name in [n for n in self.nodes if n not in topo.nes]:
            self.removeItem(self.nodes.pop(name))
            self.labels.pop(name, None)
        for name, ne in topo.nes.items():
            item = self.nodes.get(name)
            if item is None:
                item = self._node(name, ne.external)
            elif before.get(name) == lay.positions[name]:
                continue
            item.setPos(*lay.positions[name])
        self.colour(worst)
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
        item.setPen(self._outline if self.outlines else QPen(Qt.PenStyle.NoPen))
        # Parented after construction: PySide6 6.12 leaks a reference to None per call of
        # the (text, parent) constructor, and thousands of them crash the interpreter.
        label = QGraphicsSimpleTextItem(name)
        label.setParentItem(item)
        label.setBrush(QColor("#cfd8e3"))
        font = label.font()
        font.setPointSizeF(5.0)
        label.setFont(font)
        label.setPos(-label.boundingRect().width() / 2, d / 2 + 1)
        label.setVisible(self.labels_shown)
        self.addItem(item)
        self.nodes[name], self.labels[name] = item, label
        return item

    def colour(self, worst: Mapping[str, Severity]) -> None:
        topo = self.topology
        if topo is None:
            return
        for name, item in self.nodes.items():
            hexa = colour_of(topo.nes[name], worst)
            brush = self._brushes.get(hexa)
            if brush is None:
                brush = self._brushes[hexa] = QBrush(QColor(hexa))
            if item.brush().color().name() != hexa:
                item.setBrush(brush)
                # Alarmed NEs drawn larger and on top: what a NOC must spot from far out.
                sev = worst.get(name, Severity.CLEARED)
                d = NODE * (1.9 if sev >= Severity.MAJOR else 1.4 if sev >= Severity.MINOR else 1.0)
                if topo.nes[name].external:
                    d *= 0.7
                item.setRect(-d / 2, -d / 2, d, d)
                item.setZValue(5 + int(sev))

    def _links(self, topo: Topology, group: Mapping[str, str]) -> None:
        """Links inside a group drawn plainly, links between groups faint (by agent most
        sites span all agents, and those would otherwise hide the structure)."""
        for p in self.link_paths:
            self.removeItem(p)
        self.link_paths = []
        inner = sorted(k for k in topo.links if group.get(k[0]) == group.get(k[2]))
        outer = sorted(k for k in topo.links if group.get(k[0]) != group.get(k[2]))
        for keys, colour, z in ((outer, LINK_ACROSS, 1.5), (inner, LINK, 2.0)):
            for start in range(0, len(keys), LINKS_PER_PATH):
                path = QPainterPath()
                for a, _, b, _ in keys[start : start + LINKS_PER_PATH]:
                    path.moveTo(*self.positions[a])
                    path.lineTo(*self.positions[b])
                item = self.addPath(path, _pen(colour))
                item.setZValue(z)
                item.setData(1, "across" if keys is outer else "inside")
                item.setVisible(keys is inner or self.across_shown)
                self.link_paths.append(item)

    def rebuild_managed(self, agents: Iterable[str]) -> None:
        """Redraw the "managed by" edges of these agents (after an ownership move)."""
        topo = self.topology
        if topo is None:
            return
        want = set(agents)
        paths: dict[str, QPainterPath] = {n: QPainterPath() for n in want}
        for ne in topo.nes.values():
            if ne.owner in paths:
                paths[ne.owner].moveTo(*self.positions[agent_id(ne.owner)])
                paths[ne.owner].lineTo(*self.positions[ne.name])
        for node in list(self.managed):
            if node in want or node not in topo.agents:
                self.removeItem(self.managed.pop(node))
        for node, path in paths.items():
            badge = self.agents.get(node)
            colour = QColor(badge.hue if badge else "#888888")
            colour.setAlpha(MANAGED_ALPHA)
            item = self.addPath(path, _pen(colour))
            item.setZValue(1)
            item.setData(0, f"managed-by:{node}")
            self.managed[node] = item

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
    def set_detail(self, labels: bool, outlines: bool, managed: bool) -> None:
        """Switched by the view when its zoom crosses a level, never per frame. Far out,
        links between groups and "managed by" edges hide: the groups' own structure is what
        can be read at that size."""
        self.across_shown = managed
        for links in self.link_paths:
            links.setVisible(links.data(1) == "inside" or managed)
        if labels != self.labels_shown:
            self.labels_shown = labels
            for label in self.labels.values():
                label.setVisible(labels)
        if outlines != self.outlines:
            self.outlines = outlines
            pen = self._outline if outlines else QPen(Qt.PenStyle.NoPen)
            for node in self.nodes.values():
                node.setPen(pen)
        for edges in self.managed.values():
            edges.setVisible(managed)
