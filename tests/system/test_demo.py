"""README command 1's main job end to end: `emspool demo` starts a lab and three agents,
shows the pool and its alarms, and its fault script makes a failover happen on screen."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers.waiting import random_base

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_demo_shows_a_pool_and_a_failover(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "demo", "--count", "5", "--interval", "2",
         "--fault-step", "4", "--duration", "55", "--dir", str(tmp_path / "demo"),
         "--base", random_base()],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "3 agents up" in text
    pools = re.findall(r"pool: master (\S+) epoch (\d+) \| (.*)", text)
    assert pools, text[-3000:]
    first_master, first_epoch, _ = pools[0]
    killed = re.search(r"killing the master (\S+)", text)
    assert killed and killed.group(1) == first_master, text[-3000:]
    after = [(m, int(e)) for m, e, _ in pools if m not in (first_master, "(none)")]
    assert after and after[0][1] > int(first_epoch), "no new master at a higher epoch"
    assert re.search(r"alarm-raised", text), "no alarm appeared"
    assert "demo stopped: agents and lab processes ended" in text
