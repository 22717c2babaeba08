"""The Qt console (pytest-qt, offscreen) against a real pool of three agents on the real
lab: it attaches to one of them and shows the pool's alarms, acknowledges under its key's
name, reattaches to another agent when its own is killed -9 and ends with exactly the
survivors' alarm set; a viewer key sees the acknowledge buttons disabled with the reason;
``--screenshot`` writes non-blank PNGs. One lab and one pool for the whole module."""

from __future__ import annotations

import os
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
        assert win.key_label.text() == f"Key: {VIEWER} (viewer)"
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


def test_screenshot_writes_non_blank_pngs(pool: AgentPool, tmp_path: Path):
    out = tmp_path / "console.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "console.main", "--db", pool.db_url, "--key",
         str(pool._keys[OPERATOR]), "--settings", str(tmp_path / "s.ini"),
         "--screenshot", str(out), "--screenshot-wait", "60"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for path in (out, tmp_path / "console-pool.png"):
        img = QImage(str(path))
        assert img.width() >= 1000 and img.height() >= 600, path
        colours = {
            img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)
        }
        assert len(colours) > 20, (path, len(colours))
