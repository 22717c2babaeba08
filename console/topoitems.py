"""The topology's own graphics items (console/topscene.py puts them on the plane): an
agent's badge, a batch of straight edges drawn as lines, the far-out dot layer, and the pen
and colour helpers they share.

What makes a 5,000-NE frame cheap on Qt's raster painter (issue 14): nothing drawn per item
in Python but these few; long edges as opaque, unantialiased lines (a translucent pixel is
a blend, an opaque one a plain fill; an antialiased wide path is stroked into one polygon
and filled); the badges' text as a cached picture.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from console.topolayout import Point
from shared.topology import agent_id

NODE = 10.0  # an NE's diameter in scene units
BACKGROUND = "#161b22"


def cosmetic_pen(
    colour: QColor | str, width: float = 1.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine
) -> QPen:
    pen = QPen(QColor(colour), width, style)
    pen.setCosmetic(True)  # the same width in pixels at any zoom
    return pen


class AgentItem(QGraphicsItem):
    """An agent's badge: name, role, epoch and load, at a fixed size on screen."""

    W, H = 176.0, 46.0

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
        role = (self.role or "unknown").upper() if self.answered else "NO ANSWER"
        metrics = QFontMetrics(f)
        # The name gives way to the role (elided), never runs into it.
        room = int(self.W - 16 - metrics.horizontalAdvance(role) - 8)
        name = metrics.elidedText(self.node, Qt.TextElideMode.ElideRight, room)
        painter.drawText(rect.adjusted(8, 4, -8, -24), Qt.AlignmentFlag.AlignLeft, name)
        painter.setPen(border)
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
    """Straight edges (a path of moveTo/lineTo pairs, as ``path()`` gives them, which is
    what marks and tests read), antialiased only when ``smooth`` (the links inside a group
    once labels show) whatever the view's hint. A wide pen draws them as one list of lines:
    as a path it would be stroked into one polygon to fill, a frame's worth for the trunks,
    while lines are spanned one by one and clipped to the screen. Give it an opaque pen
    (``solid``)."""

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
