"""The topology tab's canvas: a QGraphicsView over ``TopoScene`` that zooms (wheel, +/-),
pans (drag), fits (F) and shows as much detail as the zoom allows (dots far out, labels
close in)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsView, QStyleOptionGraphicsItem, QWidget

from console.topscene import TopoScene

# Zoom levels (levelOfDetailFromTransform: device pixels per scene unit) where detail
# switches: below FAR nodes are bare dots and "managed by" edges hide; above NEAR labels.
FAR, NEAR = 0.55, 1.6
# Up to this many NEs every label fits on screen whatever the zoom: a small pool shows its
# names from the first paint, not only once zoomed in.
ALWAYS_LABELLED = 150
MIN_ZOOM, MAX_ZOOM = 0.02, 12.0


class TopoCanvas(QGraphicsView):
    """Zoom with the wheel or +/-, pan by dragging, F to fit; the level of detail follows
    the zoom."""

    def __init__(self, scene: TopoScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.topo = scene
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        # Panning scrolls what is drawn and repaints only the strip that came into view.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        # No background cache: the background is one colour, and a fill costs less than
        # copying (and, panning, scrolling) a viewport-sized picture of it.
        self.level = ""
        self.autofit = True  # until the user zooms: keep everything in view on resize
        self.apply_detail()

    def lod(self) -> float:
        return QStyleOptionGraphicsItem.levelOfDetailFromTransform(self.transform())

    def apply_detail(self) -> None:
        lod = self.lod()
        few = len(self.topo.nodes) <= ALWAYS_LABELLED
        level = "near" if few or lod >= NEAR else "far" if lod < FAR else "mid"
        if level == self.level:
            return
        self.level = level
        self.topo.set_detail(labels=level == "near", far=level == "far")
        self.setRenderHint(QPainter.RenderHint.Antialiasing, level != "far")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.autofit = False  # the user took the view in hand: a resize keeps it
        super().mousePressEvent(event)

    def zoom_by(self, factor: float) -> None:
        self.autofit = False
        lod = self.lod()
        factor = max(MIN_ZOOM / lod, min(MAX_ZOOM / lod, factor))
        self.scale(factor, factor)
        self.apply_detail()

    def fit(self) -> None:
        self.autofit = True
        rect = self.topo.itemsBoundingRect()
        if not rect.isEmpty():
            self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        self.apply_detail()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.autofit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25**steps)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            super().keyPressEvent(event)
