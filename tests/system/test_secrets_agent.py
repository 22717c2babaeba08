"""Credentials at rest with real agents and the real lab: `emspool keys rotate-secrets`
seals the imported profiles; an agent with the pool key polls its NEs, one without it says
clearly why it polls none, and no secret reaches a log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.secretbox import SecretBox
from lab.fleet import Lab
from lab.harness import AgentPool, free_port, sqlite_pool
from tests.helpers.waiting import random_base, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_sealed_profiles_need_the_key(tmp_path: Path):
    lab = Lab.create(
        tmp_path / "lab", count=2, topology_kind="ring", base_address=random_base(),
        port=free_port(2), netconf_share=0.0,
    )  # fmt: skip
    lab.start()
    try:
        inventory = json.loads(lab.inventory_path.read_text())
        url = sqlite_pool(tmp_path / "emspool.db", inventory)
        key = tmp_path / "pool-secrets.key"
        SecretBox.create(key)
        out = subprocess.run(
            [sys.executable, "-m", "agent.cli", "--db", url, "--secrets-key", str(key),
             "--json", "keys", "rotate-secrets"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["resealed"] == len(inventory["profiles"])
        raw = (tmp_path / "emspool.db").read_bytes()
        assert lab.state.community.encode() not in raw, "a community is still in plain text"

        names = {d.name for d in lab.devices}
        with AgentPool(tmp_path / "pools", url, interval=2.0) as pool:
            pool.add("keyed", secrets={"key_file": str(key)})
            pool.start_all()

            def polled() -> bool:
                states = pool.request("keyed", "ne_states")
                return {s["name"] for s in states if s.get("reachable")} == names

            wait_until(polled, 60, 0.5, "every NE polled with the sealed credentials")
        log = (tmp_path / "pools" / "keyed" / "agent.log").read_text()
        assert lab.state.community not in log

        # The same sealed database, seen by a host that was never given the key.
        copy = tmp_path / "copy.db"
        shutil.copy(tmp_path / "emspool.db", copy)
        with AgentPool(tmp_path / "pools", f"sqlite:///{copy}", interval=2.0) as pool:
            pool.add("keyless")
            pool.start_all()
            agent_log = tmp_path / "pools" / "keyless" / "agent.log"
            wait_until(
                lambda: "is encrypted and no pool secrets key is configured"
                in agent_log.read_text(),
                60, 0.5, "the agent saying why it cannot read the profiles",
            )  # fmt: skip
            assert pool.request("keyless", "ne_states") == []
    finally:
        lab.stop()
