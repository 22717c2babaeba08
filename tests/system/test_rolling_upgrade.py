"""A rolling upgrade of a 3-agent pool: the previous release's agents running, the schema
upgraded under them (`emspool db upgrade`), then one agent at a time restarted on this
release, followers first and the master last, as docs/runbook.md says. Every NE stays
polled throughout, old and new agents share one bus, and the pool ends with one master.

The previous release is the source tree of the commit named in
packaging/previous-release, taken from this repository's history (``git archive``) and
run with this checkout's interpreter and packages.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

import pytest

from agent.dbengine import current_revision, head_revision
from lab.harness import AgentPool
from lab.scale.fleet import ScaleLab
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = (ROOT / "packaging" / "previous-release").read_text().split()[0]
COUNT = 24
INTERVAL = 2.0
GAP = 4 * INTERVAL + 6.0  # the longest an NE may go unpolled: a takeover plus a slot
AGENTS = {"up-a": 300, "up-b": 200, "up-c": 100}


def previous_tree(dest: Path) -> Path:
    """The previous release's source tree, or a clear failure naming what is missing."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("a rolling-upgrade test needs this repository's git history")
    out = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS],
        capture_output=True,
        timeout=60,
    )
    if out.returncode != 0:
        pytest.fail(f"previous release {PREVIOUS} not in this clone's history: {out.stderr!r}")
    with tarfile.open(fileobj=BytesIO(out.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def old_head(tree: Path) -> str:
    return max(p.name.split("_")[0] for p in (tree / "agent/migrations/versions").glob("0*.py"))


def build_old_database(tree: Path, db_path: Path, lab: ScaleLab) -> str:
    """The pool database as the previous release makes it (its own code, its schema)."""
    script = (
        "import json, sys; from pathlib import Path; from lab.harness import sqlite_pool; "
        "print(sqlite_pool(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(db_path), str(lab.inventory_path)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def poll_gaps(lab: ScaleLab, last: dict[str, float], worst: dict[str, float]) -> None:
    """Record each NE's longest time between two requests seen so far."""
    now = time.time()
    for ne, p in lab.control.polls().items():
        seen = p[0]
        before = last.get(ne)
        if before is not None and seen > before:
            worst[ne] = max(worst.get(ne, 0.0), seen - before)
        if seen > 0:
            last[ne] = seen
        if before is not None:
            worst[ne] = max(worst.get(ne, 0.0), now - last[ne])


def test_rolling_upgrade_keeps_every_ne_polled(tmp_path):
    tree = previous_tree(tmp_path / "previous")
    base = f"127.{random.randint(100, 250)}.0.0"
    lab = ScaleLab.create(
        tmp_path / "lab", COUNT, base_address=base, port=random.randint(20000, 60000)
    )
    lab.start()
    try:
        url = build_old_database(tree, tmp_path / "emspool.db", lab)
        assert current_revision(url) == old_head(tree)
        with AgentPool(tmp_path / "pool", url, interval=INTERVAL) as pool:
            for node, priority in AGENTS.items():
                pool.add(node, priority=priority)
            for node in AGENTS:
                pool.start(node, source=tree)
            assert pool.wait_for_master(60)[0] == "up-a"
            names = set(lab.names)
            last: dict[str, float] = {}
            worst: dict[str, float] = {}

            def all_polled() -> bool:
                poll_gaps(lab, last, worst)
                return set(last) == names

            wait_until(all_polled, 60, what="every NE polled by the previous release")
            worst.clear()

            upgrade = subprocess.run(
                [sys.executable, "-m", "agent.cli", "--db", url, "db", "upgrade"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert upgrade.returncode == 0, upgrade.stderr
            assert current_revision(url) == head_revision()

            for node in ("up-c", "up-b", "up-a"):  # followers first, the master last
                pool.stop(node)
                pool.start(node)  # this release
                deadline = time.monotonic() + 3 * INTERVAL + 4
                while time.monotonic() < deadline:  # bounded: a few polling slots
                    poll_gaps(lab, last, worst)
                    time.sleep(0.5)

            # Back to the top-ranked agent once its hold-down (preempt_delay) is over.
            wait_until(
                lambda: pool.wait_for_master(30)[0] == "up-a",
                30,
                interval=1.0,
                what="up-a master again",
            )
            settle = time.monotonic() + 3 * INTERVAL
            while time.monotonic() < settle:
                poll_gaps(lab, last, worst)
                time.sleep(0.5)
            assert set(worst) == names  # every NE's gaps were measured across the restarts
            late = {ne: round(g, 1) for ne, g in worst.items() if g > GAP}
            assert not late, f"NEs unpolled for longer than {GAP:g} s: {json.dumps(late)}"
            assert set(last) == names
    finally:
        lab.stop()
