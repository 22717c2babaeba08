"""The Qt console (pytest-qt, offscreen) against a real pool of three agents on the real
lab: it attaches to one of them and shows the pool's alarms, acknowledges under its key's
name, reattaches to another agent when its own is killed -9 and ends with exactly the
survivors' alarm set; adds a note that the owner records and the details pane shows; a
viewer key sees the acknowledge and note buttons disabled with the reason;
``--screenshot`` writes non-blank PNGs. One lab and one pool for the whole module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from agent.db import Database
from console import options
from console.connection import Connection
from console.mainwindow import MainWindow
from console.qtbridge import GuiPoster
from lab.fleet import Lab
from lab.harness import AgentPool
from shared.alarmview import essence
from shared.model import AlarmKey
from tests.helpers.poollab import all_placed, lab_fixture, make_pool
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

OPERATOR = "nocdesk"  # the console's key: its name is what the event log must show
VIEWER = "wallboard"


lab = lab_fixture("consolelab", 9)


@pytest.fixture(scope="module")
def pool(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentPool]:
    with make_pool(lab, tmp_path_factory.mktemp("consolepool")) as p:
        p.user(OPERATOR)  # allowed before the agents start
        p.user(VIEWER, role="viewer")
        p.start_all()
        p.wait_for_master(60)
        all_placed(lab, p, set(p.agents))
        yield p


def console(qtbot: Any, pool: AgentPool, key: str, tmp_path: Path) -> MainWindow:
    ns = options.cli_namespace(pool.db_url, None, str(pool._keys[key]))
    pair, _ = options.bus_key(ns)
    poster = GuiPoster()
    conn = Connection(options.endpoints(ns), pair, poster.post, resync_every=3600.0)
    win = MainWindow(conn, QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.set_identity(options.identity(ns, pair))
    win.start()
    win.show()
    return win


def truth(pool: AgentPool, among: set[str]) -> dict[Any, Any] | None:
    """The agents' alarm set, asked independently, when every one of ``among`` answered."""
    reply = pool.request(sorted(among)[0], "pool.alarms", timeout=5.0)
    return essence(reply["items"]) if set(reply["answered"]) == among else None


def shows_truth(win: MainWindow, pool: AgentPool, among: set[str]) -> bool:
    t = truth(pool, among)
    return t is not None and essence(win.alarms.model.rows.standing) == t


def unreachable(pool: AgentPool, among: set[str], ne: str) -> AlarmKey | None:
    return next((k for k in truth(pool, among) or {} if k.ne == ne and k.type == "ne-unreachable"),
                None)  # fmt: skip


def test_attach_show_acknowledge_and_follow_a_kill(
    qtbot: Any, lab: Lab, pool: AgentPool, tmp_path: Path
):
    everyone = set(pool.live)
    ne = sorted(d.name for d in lab.devices)[2]
    win = console(qtbot, pool, OPERATOR, tmp_path)
    try:
        lab.unreachable(ne)
        key = wait_until(lambda: unreachable(pool, everyone, ne), 90, 0.5, "the alarm raised")
        qtbot.waitUntil(lambda: shows_truth(win, pool, everyone), timeout=30_000)
        assert win.last is not None and win.last.node in everyone
        assert win.last.endpoint.startswith("tcp://")
        assert win.agent_label.text().startswith(f"Agent: <b>{win.last.node}</b>")
        assert "attached" in win.state_label.text()
        assert win.alarms.ack_button.isEnabled() is False  # nothing selected yet

        # Acknowledge it from the console: the owner records our key's name.
        row = win.alarms.model.rows.row_of(key)
        assert row is not None
        win.alarms.table.selectRow(row)
        assert win.alarms.ack_button.isEnabled()
        win.alarms.ack_button.click()
        qtbot.waitUntil(lambda: win.alarms.last_ack.endswith(f"acknowledged as {OPERATOR}"),
                        timeout=15_000)  # fmt: skip
        qtbot.waitUntil(
            lambda: (truth(pool, everyone) or {}).get(key, ("", None))[1] == OPERATOR,
            timeout=15_000,
        )
        with Database.open(pool.db_url) as db:

            def logged() -> bool:
                events = db.query_events(ne=ne, types=["alarm-acked"], limit=10)
                return any(f"(acked by {OPERATOR})" in e.text for e in events)

            wait_until(logged, 30, 0.5, "the ack in the event log")
        qtbot.waitUntil(lambda: shows_truth(win, pool, everyone), timeout=30_000)
        row = win.alarms.model.rows.row_of(key)
        assert row is not None and win.alarms.model.rows.rows[row]["acked_by"] == OPERATOR

        # Kill -9 the agent the console listens to: it moves to another, resynchronises.
        victim = win.last.node
        pool.kill(victim)
        survivors = everyone - {victim}
        all_placed(lab, pool, survivors)
        qtbot.waitUntil(
            lambda: win.last is not None and win.last.node in survivors
            and win.last.reattaches >= 1,
            timeout=30_000,
        )  # fmt: skip
        wait_until(lambda: unreachable(pool, survivors, ne), 90, 0.5, "the alarm on its new owner")
        qtbot.waitUntil(lambda: shows_truth(win, pool, survivors), timeout=60_000)
        assert f"Reattaches: {win.last.reattaches}" == win.reattach_label.text()
        # The pool tab says who is master and that the victim is gone.
        qtbot.waitUntil(lambda: win.pool.state.health is not None
                        and set(win.pool.state.health["answered"]) == survivors,
                        timeout=30_000)  # fmt: skip
        # Its master changes come from the event log: the pool's first master is there.
        qtbot.waitUntil(
            lambda: (
                any(c.startswith("became master, epoch") for _, _, c in win.pool.state.history())
                and win.pool.history.rowCount() == len(win.pool.state.history())
            ),
            timeout=30_000,
        )
    finally:
        win.stop()
        lab.reachable(ne)


def test_event_log_tab_filters_and_exports_the_pools_log(
    qtbot: Any, lab: Lab, pool: AgentPool, tmp_path: Path
):
    import csv

    from console.eventlog import CSV_HEADER
    from console.eventtab import EventLogTab

    everyone = set(pool.live)
    ne = sorted(d.name for d in lab.devices)[4]
    win = console(qtbot, pool, OPERATOR, tmp_path)
    tab = EventLogTab(win.connection.request)
    win.add_view("events", "&Event log", tab)
    try:
        lab.unreachable(ne)
        wait_until(lambda: unreachable(pool, everyone, ne), 90, 0.5, "the alarm raised")
        qtbot.waitUntil(lambda: win.last is not None and win.last.current, timeout=30_000)

        def searched() -> bool:
            tab.ne.setText(ne)
            before = tab.replies
            tab.search()
            qtbot.waitUntil(lambda: tab.replies > before, timeout=15_000)
            return any(
                e["type"] == "alarm-raised" and e["alarm_type"] == "ne-unreachable"
                for e in tab.state.shown
            )

        wait_until(searched, 30, 1.0, "the raise in the event log tab")
        assert {e["ne"] for e in tab.state.shown} == {ne}  # the NE filter, by the database
        assert tab.model.rowCount() == len(tab.state.shown)
        qtbot.waitUntil(lambda: "events:" in tab.counts.text(), timeout=15_000)

        # NE details: the owner's live state through any agent (pool.ne_detail routes).
        details = win.ne_details(ne)
        qtbot.waitUntil(lambda: details.replies == 3, timeout=15_000)
        assert details.errors == {}, details.errors
        owner = details.inventory["owner"] if details.inventory else None
        assert owner in everyone and details.live is not None
        assert details.live["agent"] == owner
        assert details.live["state"]["reachable"] is False
        assert any(a["type"] == "ne-unreachable" for a in details.live["alarms"])
        text = details.view.toPlainText()
        assert f"Owner agent: {owner}" in text and "Interfaces" in text and "NO" in text
        details.close()

        done: list[tuple[int, bool]] = []
        out = tmp_path / "events.csv"
        tab.export_to(out, on_done=lambda rows, complete: done.append((rows, complete)))
        qtbot.waitUntil(lambda: bool(done), timeout=30_000)
        rows = list(csv.reader(out.open(encoding="utf-8")))
        assert rows[0] == CSV_HEADER and done == [(len(rows) - 1, True)]
        assert len(rows) - 1 >= len(tab.state.shown) and all(r[3] == ne for r in rows[1:])
    finally:
        win.stop()
        lab.reachable(ne)


def test_a_viewer_key_sees_the_ack_buttons_disabled_with_the_reason(
    qtbot: Any, lab: Lab, pool: AgentPool, tmp_path: Path
):
    win = console(qtbot, pool, VIEWER, tmp_path)
    try:
        qtbot.waitUntil(lambda: win.last is not None and win.last.current, timeout=30_000)
        assert win.alarms.may_ack is False
        assert f"key '{VIEWER}' has the viewer role" in win.alarms.permission.text()
        assert not win.alarms.ack_button.isEnabled() and not win.alarms.unack_button.isEnabled()
        assert "operator" in win.alarms.ack_button.toolTip()
        assert not win.alarms.note_button.isEnabled()
        assert "notes need operator" in win.alarms.note_button.toolTip()
        assert win.key_label.text() == f"Key: {VIEWER} (viewer)"
        # Then the attached agent's word on the key (whoami) takes the status bar.
        qtbot.waitUntil(
            lambda: win.identity is not None and win.identity.source.startswith("agent "),
            timeout=15_000,
        )
        assert win.last is not None and win.key_label.toolTip() == f"from agent {win.last.node}"
        assert win.key_label.text() == f"Key: {VIEWER} (viewer)" and win.alarms.may_ack is False
        # Without the allow-list's word (no database), the agents' refusal says the same.
        win.alarms.set_permission(None)
        assert win.alarms.permission.text() != ""
        some = AlarmKey(sorted(d.name for d in lab.devices)[0], "", "ne-unreachable")
        win.alarms.acknowledge(undo=False, keys=[some])
        qtbot.waitUntil(lambda: win.alarms.may_ack is False, timeout=15_000)
        assert "needs a key of role operator" in win.alarms.permission.text()
        assert f"{VIEWER!r} is viewer" in win.alarms.ack_button.toolTip()
    finally:
        win.stop()


def test_a_note_from_the_console_reaches_the_owner_the_log_and_the_details(
    qtbot: Any, lab: Lab, pool: AgentPool, tmp_path: Path
):
    everyone = set(pool.live)
    ne = sorted(d.name for d in lab.devices)[4]
    win = console(qtbot, pool, OPERATOR, tmp_path)
    try:
        lab.unreachable(ne)
        key = wait_until(lambda: unreachable(pool, everyone, ne), 90, 0.5, "the alarm raised")
        qtbot.waitUntil(lambda: win.alarms.model.rows.row_of(key) is not None, timeout=30_000)
        win.alarms.table.selectRow(win.alarms.model.rows.row_of(key) or 0)
        assert win.alarms.note_button.isEnabled()
        win.alarms.note_button.click()
        qtbot.waitUntil(lambda: win.alarms.note_dialog is not None, timeout=5_000)
        dialog = win.alarms.note_dialog
        assert dialog is not None
        dialog.setTextValue("carrier says fibre cut near km 12")
        dialog.accept()
        qtbot.waitUntil(lambda: win.alarms.last_ack.endswith("note 1 added"), timeout=15_000)

        def shown() -> bool:
            row = win.alarms.model.rows.row_of(key)
            return row is not None and win.alarms.model.rows.rows[row].get("note_count") == 1

        qtbot.waitUntil(shown, timeout=15_000)  # the owner's live event, through our agent
        row = win.alarms.model.rows.rows[win.alarms.model.rows.row_of(key) or 0]
        assert row["last_note"]["user"] == OPERATOR
        text = win.alarms.details.text()
        assert f"<b>{OPERATOR}</b>: carrier says fibre cut near km 12" in text
        with Database.open(pool.db_url) as db:

            def logged() -> bool:
                events = db.query_events(ne=ne, types=["alarm-note"], limit=10)
                return any(e.text.endswith(f"(note 1 by {OPERATOR})") for e in events)

            wait_until(logged, 30, 0.5, "the note in the event log")
    finally:
        win.stop()
        lab.reachable(ne)


def _shoot(pool: AgentPool, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.main", "--db", pool.db_url, "--key",
         str(pool._keys[OPERATOR]), "--settings", str(tmp_path / "s.ini"),
         "--screenshot", str(tmp_path / "console.png"), "--screenshot-wait", "60"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _assert_not_blank(path: Path) -> None:
    img = QImage(str(path))
    assert img.width() >= 1000 and img.height() >= 600, path
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 20, (path, len(colours))


def test_screenshot_writes_non_blank_pngs(pool: AgentPool, tmp_path: Path):
    proc = _shoot(pool, tmp_path, dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 0, proc.stderr
    for view in ("", "-pool", "-topology"):
        _assert_not_blank(tmp_path / f"console{view}.png")


def test_a_real_x_window_under_xvfb_is_not_blank(pool: AgentPool, tmp_path: Path):
    """The application in a real X server (Xvfb, the xcb platform): the pictures are what
    the X server shows of the window, not Qt's own rendering."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is missing: scripts/setup installs it (Debian package xvfb)")
    display = next(n for n in range(90, 190) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    xvfb = subprocess.Popen(
        ["Xvfb", f":{display}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: Path(f"/tmp/.X11-unix/X{display}").exists(), 15, what="Xvfb up")
        env = {
            k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")
        }
        env |= {"DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"}
        proc = _shoot(pool, tmp_path, env)
        assert proc.returncode == 0, proc.stderr
        for view in ("", "-pool", "-topology"):
            _assert_not_blank(tmp_path / f"console{view}.png")
    finally:
        xvfb.terminate()
        xvfb.wait(10)
