"""The topology tab (console/topoview.py) as a real widget, offscreen: search, click to
select, level of detail, source switch with differences, an ownership move that redraws the
edges in place, and the source and fetch time always shown."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from console.topoitems import BACKGROUND, CrispPath, solid
from console.topolayout import BY_SITE
from console.topoview import DIFFERENCES, TopologyWidget
from console.topscene import DIFF_DB, DIFF_MEM, LINK_ACROSS
from lab.topogen import synthetic_pool
from shared.model import Severity
from shared.topology import DATABASE, MEMORY, SEVERITY_COLOURS, agent_id

POOL = synthetic_pool(sites=6, per_site=40)


@pytest.fixture
def widget(qtbot) -> TopologyWidget:
    w = TopologyWidget()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_database(POOL.topology_reply(fetched=time.time() - 5), via="p2")
    return w


def path_points(item) -> set[tuple[float, float]]:
    path = item.path()
    return {
        (round(path.elementAt(i).x, 3), round(path.elementAt(i).y, 3))
        for i in range(path.elementCount())
    }


def managed_points(w: TopologyWidget, agent: str) -> set[tuple[float, float]]:
    return set().union(*(path_points(i) for i in w.scene.managed[agent]))


def test_the_banner_says_the_source_and_when_it_was_fetched(widget: TopologyWidget):
    text = widget.banner.text()
    assert "Database (peered) via p2" in text and "fetched" in text and "s ago" in text
    assert f"{len(POOL.kinds):,} NEs" in text
    assert len(widget.scene.nodes) == len(POOL.kinds) and set(widget.scene.agents) == {
        "p1",
        "p2",
        "p3",
    }
    assert widget.canvas.level == "far"  # fitted: everything in view


def test_search_selects_and_centres_the_ne_and_shows_its_details(qtbot, widget: TopologyWidget):
    with qtbot.waitSignal(widget.nodeSelected, timeout=2000) as sig:
        found = widget.search("SITE03-fab-sw01")  # case-insensitive, first containing it
    assert found == "site03-fab-sw010" and sig.args == ["site03-fab-sw010"]
    assert widget.selected() == "site03-fab-sw010"
    item = widget.scene.nodes[found]
    centre = widget.canvas.mapFromScene(item.scenePos())
    assert widget.canvas.viewport().rect().adjusted(200, 200, -200, -200).contains(centre)
    assert widget.canvas.level == "near"
    html = widget.details.toHtml()
    assert "site03-fab-sw010" in html and "owner" in html and "links" in html
    assert widget.search("no-such-ne") is None and widget.selected() == "site03-fab-sw010"
    assert widget.search("p3") == agent_id("p3")


def test_clicking_a_node_selects_it(qtbot, widget: TopologyWidget):
    widget.search("site01-rtr1")
    target = widget.scene.nodes["site01-rtr2"]
    widget.canvas.centerOn(target)
    at = widget.canvas.mapFromScene(target.scenePos())
    with qtbot.waitSignal(widget.nodeSelected, timeout=2000) as sig:
        qtbot.mouseClick(widget.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(at))
    assert sig.args == ["site01-rtr2"]


def test_level_of_detail_follows_the_zoom(qtbot, widget: TopologyWidget):
    s, c = widget.scene, widget.canvas
    widget.canvas.fit()
    assert c.level == "far" and s.dots.isVisible() and not s.node_layer.isVisible()
    assert not s.label_layer.isVisible()
    widget.canvas.zoom_by(0.9 / c.lod())
    assert c.level == "mid" and s.node_layer.isVisible() and not s.dots.isVisible()
    assert not s.label_layer.isVisible()
    qtbot.keyClick(c, Qt.Key.Key_Plus)  # the keyboard zooms too
    qtbot.keyClick(c, Qt.Key.Key_Plus)
    qtbot.keyClick(c, Qt.Key.Key_Plus)
    assert c.level == "near" and s.label_layer.isVisible()
    stubs = [p for p in s.link_paths if p.data(1) == "stub"]
    assert stubs and all(p.isVisible() for p in stubs)
    assert not widget.grab().toImage().isNull()
    qtbot.keyClick(c, Qt.Key.Key_F)
    assert c.level == "far"


def test_severity_colours_the_ne(widget: TopologyWidget):
    widget.set_severities({"site02-rtr3": Severity.CRITICAL, "site02-rtr4": Severity.MINOR})
    node = widget.scene.nodes["site02-rtr3"]
    assert node.brush().color() == QColor(SEVERITY_COLOURS[Severity.CRITICAL])
    assert widget.scene.nodes["site02-rtr4"].brush().color() == QColor(
        SEVERITY_COLOURS[Severity.MINOR]
    )
    assert node.rect().width() > widget.scene.nodes["site02-rtr1"].rect().width()
    widget.set_severities({})
    assert node.brush().color() == QColor(SEVERITY_COLOURS[Severity.CLEARED])


def test_source_switch_and_differences(qtbot, widget: TopologyWidget):
    states = POOL.ne_states_reply(fetched=time.time() - 2)
    gone = states["items"].pop(0)["name"]  # in the database only
    states["items"].append({"name": "mem-only", "agent": "p1", "lldp": []})
    other = states["items"][5]
    other["agent"] = "p3" if other["agent"] != "p3" else "p1"  # another owner in memory
    widget.set_memory(states, POOL.health_reply(), via="p1")
    with qtbot.waitSignal(widget.sourceChanged, timeout=2000) as sig:
        widget.set_source(MEMORY)
    assert sig.args == [MEMORY] and widget.source == MEMORY
    assert "Agents' memory (federated) via p1" in widget.banner.text()
    assert "mem-only" in widget.scene.nodes
    assert widget.memory.nes[gone].external  # only its neighbours' LLDP names it now
    widget.set_source(DIFFERENCES)
    banner = widget.banner.text()
    assert "1 NEs only in the database" in banner and "1 NEs only in memory" in banner
    assert "1 NEs with another owner" in banner
    marked = {QColor(m.pen().color()).name(): m for m in widget.scene.marks}
    assert DIFF_DB.name() in marked and DIFF_MEM.name() in marked
    assert {gone, "mem-only"} <= set(widget.scene.nodes)
    widget.set_source(DATABASE)
    assert not widget.scene.marks and "Database (peered)" in widget.banner.text()


def test_an_ownership_move_redraws_the_edges_in_place(widget: TopologyWidget):
    ne = sorted(n for n, o in POOL.owners.items() if o == "p1")[3]
    node = widget.scene.nodes[ne]
    before = node.pos()
    spot = (round(before.x(), 3), round(before.y(), 3))
    assert spot not in managed_points(widget, "p2")
    widget.apply_agent_event(
        "p2", {"managed": sorted([ne, *(n for n, o in POOL.owners.items() if o == "p2")])}
    )
    assert widget.database.nes[ne].owner == "p2"
    assert node.pos() == before  # the NE did not move
    assert spot in managed_points(widget, "p2")  # p2's edge ends at it
    assert widget.scene.agents["p2"].load == sum(1 for o in POOL.owners.values() if o == "p2") + 1
    widget.select(ne)
    assert "database (shown)\nowner p2," in widget.details.toPlainText()


def test_grouping_by_site_and_back_keeps_each_pictures_positions(widget: TopologyWidget):
    ne = "site04-acc-sw002"
    by_agent = widget.scene.nodes[ne].pos()
    widget.grouping.setCurrentIndex(1)  # the combo box: group by site
    assert widget.group_by == BY_SITE
    lay = widget.layouts[BY_SITE]
    assert set(lay.discs) == {f"site{i:02d}" for i in range(1, 7)}
    disc = lay.discs["site04"]
    pos = widget.scene.nodes[ne].pos()
    assert (pos.x() - disc.x) ** 2 + (pos.y() - disc.y) ** 2 <= (disc.r + 40) ** 2
    widget.grouping.setCurrentIndex(0)
    assert widget.scene.nodes[ne].pos() == by_agent


def test_trunk_and_managed_edges_are_opaque_lines_along_their_paths(widget: TopologyWidget):
    s = widget.scene
    crisp = [i for i in s.items() if isinstance(i, CrispPath)]
    assert {i.data(1) for i in crisp} >= {"trunk"} and any(s.managed.values())
    for item in crisp:
        assert item.pen().color().alpha() == 255  # a plain fill per pixel, not a blend
        lines = item.segments()
        ends = {(round(p.x(), 3), round(p.y(), 3)) for ln in lines for p in (ln.p1(), ln.p2())}
        assert ends == path_points(item)  # what is drawn is the path the tests and marks read
    # The opaque colour is what Qt shows for the translucent one over the background.
    for colour in (LINK_ACROSS, QColor(199, 125, 255, 70)):
        img = QImage(4, 4, QImage.Format.Format_RGB32)
        img.fill(QColor(BACKGROUND))
        p = QPainter(img)
        p.fillRect(0, 0, 4, 4, colour)
        p.end()
        shown, want = img.pixelColor(1, 1), solid(colour)
        off = [abs(a - b) for a, b in zip(shown.getRgb(), want.getRgb(), strict=True)]
        assert max(off) <= 1


def test_an_agent_badge_is_painted_anew_when_its_state_changes(widget: TopologyWidget):
    """Badges are cached pictures: a change must reach the screen, not the old picture."""
    badge = widget.scene.agents["p2"]

    def picture() -> QImage:
        widget.canvas.viewport().repaint()
        box = widget.canvas.mapFromScene(badge.scenePos())
        return widget.canvas.viewport().grab().toImage().copy(box.x() - 70, box.y() - 20, 140, 40)

    before = picture()
    assert picture() == before  # the same picture while nothing changed
    reply = POOL.topology_reply(fetched=time.time())
    for a in reply["agents"]:
        if a["node_id"] == "p2":
            a["state"] = "dead"
    widget.set_database(reply, via="p2")  # the same NEs and edges, p2 now dead
    assert badge.role == "dead"
    assert picture() != before  # red border, "DEAD"


def test_live_ne_states_update_the_memory_picture_without_a_refresh(widget: TopologyWidget):
    states = POOL.ne_states_reply(fetched=time.time() - 2)
    widget.set_memory(states, POOL.health_reply(), via="p1")
    widget.set_source(MEMORY)
    item = next(d for d in states["items"] if d["agent"] == "p1")
    ne = item["name"]
    never = {"name": ne, "agent": "p1", "reachable": None}
    widget.apply_ne_states([never])  # never polled: grey
    assert widget.scene.nodes[ne].brush().color() != QColor(SEVERITY_COLOURS[Severity.CLEARED])
    told = dict(item, reachable=False, last_error="timeout", interfaces_down=2, agent="p2")
    widget.apply_ne_states([told, {"name": "not-in-the-picture", "reachable": False}])
    now = widget.memory.nes[ne]
    assert (now.reachable, now.last_error, now.interfaces_down, now.owner) == (
        False, "timeout", 2, "p2"
    )  # fmt: skip
    assert widget.scene.topology is widget.memory  # what is drawn is what was told
    assert widget.scene.nodes[ne].brush().color() == QColor(SEVERITY_COLOURS[Severity.CLEARED])
    assert widget.database.nes[ne].owner == "p1"  # the database picture is the database's
    widget.select(ne)
    assert "owner p2" in widget.details.toPlainText()
