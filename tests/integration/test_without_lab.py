"""The product installs and runs without the lab: processes in which `import lab` (and the
lab's simulator libraries) fail, as on a host where only `pip install emspool` was done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.harness import bus_key, client_for, stop_process, wait_for_agent, write_agent_config

pytestmark = pytest.mark.timeout(120)

BLOCKED = ("lab", "snmpsim", "asyncssh", "pysmi")

# Loaded by site.py before anything else runs; PYTHONPATH puts it ahead of site-packages
# and after the editable-install finder, so it wins over every other way of finding these.
SITECUSTOMIZE = """
import os, sys
from importlib.abc import MetaPathFinder

BLOCKED = os.environ["EMSPOOL_BLOCK"].split(",")
LOG = os.environ["EMSPOOL_BLOCK_LOG"]


class _NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            with open(LOG, "a") as f:
                f.write(f"{os.getpid()} {name}\\n")
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.fixture
def nolab(tmp_path: Path) -> tuple[dict[str, str], Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "blocked.log"
    log.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMSPOOL_")}
    env |= {
        "PYTHONPATH": str(site),
        "EMSPOOL_BLOCK": ",".join(BLOCKED),
        "EMSPOOL_BLOCK_LOG": str(log),
    }
    return env, log


def run(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_blocker_works(nolab, tmp_path):
    env, log = nolab
    out = run(env, tmp_path, "-c", "import lab.fleet")
    assert out.returncode == 1 and "No module named 'lab'" in out.stderr
    assert log.read_text().split()[1:] == ["lab"]


def test_agent_starts_serves_and_stops_without_the_lab(nolab, tmp_path):
    env, log = nolab
    db = f"sqlite:///{tmp_path / 'emspool.db'}"
    config = tmp_path / "agent.toml"
    router, _ = write_agent_config(config, "nolab", tmp_path / "agent", db, 60.0)
    check = run(env, tmp_path, "-m", "agent.main", "--config", str(config), "--check")
    assert check.returncode == 0 and "OK" in check.stdout, check.stderr
    with open(tmp_path / "agent.log", "wb") as agent_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(config)],
            env=env,
            cwd=tmp_path,
            stdout=agent_log,
            stderr=subprocess.STDOUT,
        )
    client = client_for(db, bus_key(db, tmp_path), router)
    try:
        wait_for_agent(client, proc, 30.0)
        status = client.request("status", timeout=5)
        assert status["node_id"] == "nolab"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        client.close()
        stop_process(proc)
    text = (tmp_path / "agent.log").read_text()
    assert "agent stopped" in text and "Traceback" not in text, text
    # Not one attempt: the agent does not even look for the lab.
    assert log.read_text() == ""


def test_cli_works_and_says_how_to_get_the_lab(nolab, tmp_path):
    env, _ = nolab
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    cli = ("-m", "agent.cli", "--db", db)
    inventory = tmp_path / "inv.json"
    inventory.write_text(
        '{"profiles": [{"name": "p", "version": "2c", "community": "c"}],'
        ' "devices": [{"name": "rtr1", "address": "127.0.0.1", "profile": "p"}]}'
    )
    imported = run(env, tmp_path, *cli, "ne", "import", str(inventory))
    assert imported.returncode == 0, imported.stderr
    listed = run(env, tmp_path, *cli, "ne", "list")
    assert listed.returncode == 0 and "rtr1" in listed.stdout, listed.stderr
    usage = run(env, tmp_path, "-m", "agent.cli", "--help")
    assert usage.returncode == 0
    words = " ".join(usage.stdout.split())
    assert "on loopback [not installed]" in words and "scripted faults [not installed]" in words
    for argv in (("lab", "run", "--count", "2", "--state-dir", "x"), ("demo", "--count", "2")):
        out = run(env, tmp_path, "-m", "agent.cli", *argv)
        assert out.returncode == 1, (argv, out.stdout, out.stderr)
        assert "pip install 'emspool[lab]'" in out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()


def test_lab_without_its_simulator_libraries_says_what_is_missing(nolab, tmp_path):
    """A host with emspool's lab package but not the lab extra's libraries."""
    env, _ = nolab
    env["EMSPOOL_BLOCK"] = "snmpsim,asyncssh,pysmi"
    out = run(env, tmp_path, "-m", "agent.cli", "lab", "run", "--count", "2", "--state-dir", "x")
    assert out.returncode == 1, out.stderr
    assert "needs the Python package" in out.stderr and "emspool[lab]" in out.stderr
    assert "Traceback" not in out.stderr
