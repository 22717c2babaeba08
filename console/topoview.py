"""The topology tab: the canvas (console/topocanvas.py) with the source switch (database /
memory / differences), search, a details panel for the selected node, and a banner that
always says which source is shown and when it was fetched.

Feed it replies as the connection worker gets them (on the GUI thread; the layout of 5,000
NEs takes about 0.1-0.3 s, new nodes only after the first)::

    w = TopologyWidget()
    w.set_database(db_topology_reply, via="p2")        # db.topology
    w.set_memory(ne_states_reply, health_reply, "p2")  # pool.ne_states (+ pool.health)
    w.set_severities(worst_severities(alarm_view.items()))
    w.apply_agent_event(origin, body)                  # a live ``agent`` message
    w.nodeSelected.connect(...)                        # node id ("agent:<id>" or NE)
    w.refreshRequested.connect(...)                    # "database" or "memory"
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.topocanvas import FAR, NEAR, TopoCanvas
from console.topodetails import details_html
from console.topolayout import BY_AGENT, BY_SITE, Layout, layout
from console.topscene import DIFF_DB, DIFF_MEM, TopoScene
from shared.model import Severity
from shared.topology import (
    DATABASE,
    MEMORY,
    SEVERITY_COLOURS,
    Topology,
    TopologyDiff,
    agent_id,
    differences,
    from_database,
    from_memory,
    is_agent,
    owner_changes,
    union,
)

DIFFERENCES = "differences"
SELECTED = "#ffffff"


class TopologyWidget(QWidget):
    nodeSelected = Signal(str)  # node id ("agent:<id>" or an NE's name), "" when none
    sourceChanged = Signal(str)  # "database", "memory" or "differences"
    refreshRequested = Signal(str)  # the user asks for a fresh "database" or "memory"

    def __init__(self, parent: QWidget | None = None, group_by: str = BY_AGENT) -> None:
        super().__init__(parent)
        self.database: Topology | None = None
        self.memory: Topology | None = None
        self.diff: TopologyDiff | None = None
        self.worst: dict[str, Severity] = {}
        self.source = DATABASE
        self.group_by = group_by
        self.layouts: dict[str, Layout] = {}  # by grouping: both sources share positions
        self.last_paint_ready = 0.0  # perf_counter when the scene last took new data
        self.note = ""  # why the last fetch failed, shown until the next picture arrives
        self.scene = TopoScene(self)
        self.canvas = TopoCanvas(self.scene)
        self.details = QTextBrowser()
        self.details.setMinimumWidth(240)
        self.banner = QLabel()
        self.banner.setObjectName("topologySource")
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self._build()
        self.scene.selectionChanged.connect(self._selected)
        self._clock = QTimer(self)  # the banner's "N s ago"
        self._clock.timeout.connect(self._update_banner)
        self._clock.start(1000)
        self._update_banner()

    def _build(self) -> None:
        bar = QHBoxLayout()
        self.sources = QButtonGroup(self)
        for i, (key, text) in enumerate(
            ((DATABASE, "Database"), (MEMORY, "Agents' memory"), (DIFFERENCES, "Differences"))
        ):
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setObjectName(f"source-{key}")
            b.setChecked(key == self.source)
            self.sources.addButton(b, i)
            b.clicked.connect(lambda _=False, k=key: self.set_source(k))
            bar.addWidget(b)
        self.grouping = QComboBox()
        self.grouping.addItem("Group by agent", BY_AGENT)
        self.grouping.addItem("Group by site", BY_SITE)
        self.grouping.setCurrentIndex(0 if self.group_by == BY_AGENT else 1)
        self.grouping.currentIndexChanged.connect(
            lambda _: self.set_group_by(self.grouping.currentData())
        )
        bar.addWidget(self.grouping)
        self.search_box = QLineEdit(placeholderText="Find NE or agent…  (Enter)")
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text()))
        self.completer = QCompleter([], self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.search_box.setCompleter(self.completer)
        bar.addWidget(self.search_box, 1)
        for text, tip, slot in (
            ("-", "Zoom out (-)", lambda: self.canvas.zoom_by(0.8)),
            ("+", "Zoom in (+)", lambda: self.canvas.zoom_by(1.25)),
            ("Fit", "Fit everything (F)", self.canvas.fit),
            ("Re-layout", "Place every node afresh", self.relayout),
            ("Refresh", "Fetch this source again", self._ask_refresh),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        legend = " ".join(
            f'<span style="color:{SEVERITY_COLOURS[s]}">●</span> {s.label}'
            for s in sorted(SEVERITY_COLOURS, reverse=True)
            if s is not Severity.CLEARED
        )
        self.legend = QLabel(
            f'{legend} <span style="color:{SEVERITY_COLOURS[Severity.CLEARED]}">●</span> ok'
            f' <span style="color:{DIFF_DB.name()}">◯</span> differs'
        )
        split = QSplitter()
        split.addWidget(self.canvas)
        split.addWidget(self.details)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 280])
        self.details.setMaximumWidth(420)
        top = QVBoxLayout(self)
        top.setContentsMargins(4, 4, 4, 4)
        top.addLayout(bar)
        top.addWidget(self.banner)
        top.addWidget(split, 1)
        top.addWidget(self.legend)

    # -- data in -------------------------------------------------------------------------
    def set_database(self, reply: Mapping[str, Any], via: str = "") -> None:
        """A ``db.topology`` reply."""
        self.database = from_database(reply, via)
        self._changed(DATABASE)

    def set_memory(
        self, states: Mapping[str, Any], health: Mapping[str, Any] | None = None, via: str = ""
    ) -> None:
        """A ``pool.ne_states`` reply, with ``pool.health``'s roles and epochs if given."""
        self.memory = from_memory(states, health, via)
        self._changed(MEMORY)

    def set_severities(self, worst: Mapping[str, Severity]) -> None:
        """NE -> worst standing severity (``shared.topology.worst_severities``)."""
        self.worst = dict(worst)
        self.scene.colour(self.worst)
        self._show_details()

    def apply_agent_event(self, origin: str, body: Mapping[str, Any]) -> None:
        """A live ``agent`` message: NEs an agent took move to it now, in both sources'
        pictures, without waiting for the next refresh."""
        for src in (DATABASE, MEMORY):
            topo = self.database if src == DATABASE else self.memory
            if topo is not None:
                self.move_owners(owner_changes(topo, origin, body), src)

    def apply_ne_states(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Live ``ne`` items (NE states that changed, console/connection.py): the memory
        picture takes their owners and state now, without waiting for the next refresh."""
        if self.memory is None or not items:
            return
        owners = {
            str(d["name"]): str(d["agent"])
            for d in items
            if d.get("agent") and str(d.get("name")) in self.memory.nes
        }
        self.move_owners(owners, MEMORY)
        self.memory = self.memory.with_states(items)
        if self.source == MEMORY and self.scene.topology is not None:
            self.scene.topology = self.memory
            self.scene.colour(self.worst)  # a never-polled NE turns from grey
        self._show_details()

    def move_owners(self, changes: Mapping[str, str], source: str | None = None) -> None:
        """NE -> new owner in one source (the shown one by default): the NEs stay where they
        are and only their "managed by" edges move."""
        source = source or self.source
        topo = self.database if source == DATABASE else self.memory
        if topo is None or not changes:
            return
        moved = topo.with_owners(changes)
        if source == DATABASE:
            self.database = moved
        else:
            self.memory = moved
        if moved.agents.keys() != topo.agents.keys():
            self._changed(source)  # a new agent needs a badge and a place
        elif source == self.source:
            self.scene.move_owners(moved, changes)
            self._after_show()
        elif self.source == DIFFERENCES:
            self._changed(source)

    def banner_note(self, text: str) -> None:
        """Say in the banner that a fetch failed (the picture shown is the last one)."""
        self.note = text
        self._update_banner()

    def _changed(self, source: str) -> None:
        self.note = ""
        if self.database is not None and self.memory is not None:
            self.diff = differences(self.database, self.memory)
        if source == self.source or self.source == DIFFERENCES:
            self._show()
        self._update_banner()

    # -- showing -------------------------------------------------------------------------
    def shown(self) -> Topology | None:
        if self.source == DIFFERENCES:
            if self.database is None or self.memory is None:
                return self.database or self.memory
            return union(self.database, self.memory)
        return self.database if self.source == DATABASE else self.memory

    def _show(self, fresh: bool = False) -> None:
        topo = self.shown()
        if topo is None:
            return
        previous = None if fresh else self.layouts.get(self.group_by)
        first = not self.scene.nodes
        lay = self.layouts[self.group_by] = layout(topo, previous, self.group_by)
        self.scene.show(topo, lay, self.worst)
        self._after_show()
        names = sorted(topo.nes) + sorted(a.id for a in topo.agents.values())
        self.completer.model().setStringList(names)  # type: ignore[attr-defined]
        if first or fresh:
            self.canvas.setSceneRect(QRectF())
            self.canvas.fit()
        self.last_paint_ready = time.perf_counter()

    def _after_show(self) -> None:
        self.scene.clear_marks()
        if self.source == DIFFERENCES and self.diff is not None:
            d = self.diff
            self.scene.mark_nodes(set(d.only_database) | set(d.owners), DIFF_DB)
            self.scene.mark_nodes(d.only_memory, DIFF_MEM)
            self.scene.mark_links(d.links_only_database, DIFF_DB)
            self.scene.mark_links(d.links_only_memory, DIFF_MEM)
        self._mark_selection()
        self._update_banner()

    def set_source(self, source: str) -> None:
        if source not in (DATABASE, MEMORY, DIFFERENCES):
            raise ValueError(f"unknown source {source!r}")
        self.sources.button((DATABASE, MEMORY, DIFFERENCES).index(source)).setChecked(True)
        if source != self.source:
            self.source = source
            self._show()
            self.sourceChanged.emit(source)
        self._update_banner()

    def set_group_by(self, group_by: str) -> None:
        if group_by != self.group_by:
            self.group_by = group_by
            self._show()
            self.canvas.fit()

    def relayout(self) -> None:
        self._show(fresh=True)

    def _ask_refresh(self) -> None:
        for src in (DATABASE, MEMORY) if self.source == DIFFERENCES else (self.source,):
            self.refreshRequested.emit(src)

    # -- search, selection, details ------------------------------------------------------
    def search(self, text: str) -> str | None:
        """Select and centre the node named ``text`` (exact, else the first containing it,
        case-insensitive); returns its id or None."""
        want = text.strip().casefold()
        if not want:
            return None
        ids = list(self.scene.nodes) + [f"agent:{n}" for n in self.scene.agents]
        found = next((i for i in ids if i.casefold() == want), None)
        if found is None:
            found = next((i for i in sorted(ids) if want in i.casefold()), None)
        if found is not None:
            self.select(found, centre=True)
        return found

    def select(self, node_id: str, centre: bool = False) -> None:
        """Select a node (``centre``: zoomed in on it, labels shown). Far out NEs are dots
        and cannot be selected, so selecting one zooms in to where they are items."""
        item = self._item(node_id)
        if item is None:
            return
        want = NEAR * 1.3 if centre else FAR * 1.2
        if self.canvas.lod() < want:
            self.canvas.zoom_by(want / self.canvas.lod())
        self.scene.clearSelection()
        item.setSelected(True)
        if centre or self.canvas.level == "far":
            self.canvas.centerOn(item)

    def selected(self) -> str:
        items = self.scene.selectedItems()
        return str(items[0].data(0)) if items else ""

    def _item(self, node_id: str) -> Any:
        if is_agent(node_id):
            return self.scene.agents.get(node_id.removeprefix("agent:"))
        return self.scene.nodes.get(node_id)

    def _selected(self) -> None:
        self._mark_selection()
        self._show_details()
        self.nodeSelected.emit(self.selected())

    def _mark_selection(self) -> None:
        sel, topo = self.selected(), self.scene.topology
        for m in [m for m in self.scene.marks if m.data(1) == "selection"]:
            self.scene.removeItem(m)
            self.scene.marks.remove(m)
        if not sel or topo is None or is_agent(sel):
            return
        before = len(self.scene.marks)
        self.scene.mark_links(sorted(e.key for e in topo.neighbours(sel)), QColor(SELECTED), 2.0)
        owner = topo.nes[sel].owner if sel in topo.nes else ""
        if owner:  # its own "managed by" edge, out of the bundle
            self.scene.mark_links([(agent_id(owner), "", sel, "")], QColor(SELECTED), 1.0)
        self.scene.mark_nodes([sel], QColor(SELECTED), 3.0)
        for m in self.scene.marks[before:]:
            m.setData(1, "selection")

    def _show_details(self) -> None:
        self.details.setHtml(
            details_html(self.selected(), self.database, self.memory, self.worst, self.source)
        )

    def banner_text(self) -> str:
        topo = self.shown()
        if topo is None:
            return "No topology yet: waiting for the pool's answer"
        if self.source == DIFFERENCES:
            parts = [self._fetched(t) for t in (self.database, self.memory) if t is not None]
            what = self.diff.summary() if self.diff is not None else "needs both sources"
            return f"<b>Differences</b> database vs agents' memory — {what} — " + "; ".join(parts)
        return f"<b>{self._fetched(topo)}</b> — {len(topo.inventory()):,} NEs, " + (
            f"{len(topo.links):,} links, {len(topo.agents)} agents"
            + (_missing(topo) if topo.missing else "")
        )

    @staticmethod
    def _fetched(topo: Topology) -> str:
        what = "Database (peered)" if topo.source == DATABASE else "Agents' memory (federated)"
        when = time.strftime("%H:%M:%S", time.localtime(topo.fetched))
        age = max(0.0, time.time() - topo.fetched)
        via = f" via {topo.via}" if topo.via else ""
        return f"{what}{via}, fetched {when} ({age:.0f} s ago)"

    def _update_banner(self) -> None:
        note = (
            f" — <span style='color:#e5322d'>{html.escape(self.note)}</span>" if self.note else ""
        )
        self.banner.setText(self.banner_text() + note)


def _missing(topo: Topology) -> str:
    names = ", ".join(sorted(topo.missing))
    return f", <span style='color:#e5322d'>no answer from {names}</span>"
