"""The systemd side of an agent: the unit file passes `systemd-analyze verify`, and the notify
protocol (readiness, watchdog) against a real AF_UNIX notify socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.systemd import Notifier, watchdog_interval

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_unit_file_verifies_cleanly(tmp_path):
    unit = (ROOT / "packaging" / "emspool-agent.service").read_text()
    # verify checks that the binaries exist: point them at this checkout's virtualenv
    agent_bin = str(Path(sys.executable).with_name("emspool-agent"))
    unit = unit.replace("/opt/emspool/venv/bin/emspool-agent", agent_bin)
    assert agent_bin in unit
    path = tmp_path / "emspool-agent.service"
    path.write_text(unit)
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    for wanted in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    ):
        assert wanted in unit


def _listen(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    return sock


def _read(sock: socket.socket, n: int) -> list[tuple[float, str]]:
    out = []
    for _ in range(n):
        out.append((time.monotonic(), sock.recv(4096).decode()))
    return out


def test_ready_status_and_stopping_reach_the_notify_socket(tmp_path, monkeypatch):
    sock = _listen(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    n = Notifier()
    n.ready("pool joined: follower of a1, 12 NEs")
    n.stopping()
    got = [m for _, m in _read(sock, 2)]
    assert got == ["READY=1\nSTATUS=pool joined: follower of a1, 12 NEs", "STOPPING=1"]


def test_watchdog_is_fed_from_the_loop_and_stops_when_the_loop_is_stuck(tmp_path, monkeypatch):
    import threading

    sock = _listen(tmp_path)
    sock.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # 0.4 s: a ping every 0.2 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    stamps: list[float] = []
    done = threading.Event()

    def read() -> None:  # another thread: it keeps time while the loop is stuck
        while not done.is_set():
            try:
                msg = sock.recv(4096).decode()
            except TimeoutError:
                continue
            assert msg == "WATCHDOG=1"
            stamps.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()

    async def scenario() -> tuple[float, float]:
        n = Notifier()
        task = asyncio.create_task(n.feed_watchdog())
        await asyncio.sleep(1.0)
        stuck_from = time.monotonic()
        time.sleep(1.2)  # the event loop is blocked: no ping may go out meanwhile
        stuck_to = time.monotonic()
        await asyncio.sleep(0.5)
        task.cancel()
        return stuck_from, stuck_to

    try:
        stuck_from, stuck_to = asyncio.run(scenario())
    finally:
        done.set()
        reader.join(5)
    before = [t for t in stamps if t < stuck_from]
    during = [t for t in stamps if stuck_from + 0.05 < t < stuck_to - 0.05]
    after = [t for t in stamps if t >= stuck_to]
    assert len(before) >= 3 and during == [] and len(after) >= 1, (before, during, after)


def test_no_watchdog_for_another_process_or_without_systemd():
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval({}) is None


def test_a_real_agent_says_ready_once_serving_feeds_the_watchdog_and_says_stopping(
    tmp_path, monkeypatch
):
    from lab.harness import (
        bus_key,
        client_for,
        sqlite_pool,
        start_agent,
        stop_process,
        write_agent_config,
    )

    sock = _listen(tmp_path)
    sock.settimeout(30)
    url = sqlite_pool(tmp_path / "pool.db", {"profiles": [], "devices": []})
    router, _ = write_agent_config(tmp_path / "agent.toml", "sd-agent", tmp_path / "a", url, 60)
    key = bus_key(url, tmp_path)  # before the start: allowed from the agent's first moment
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WATCHDOG_PID unset: any process may feed
    proc = start_agent(tmp_path / "agent.toml", tmp_path / "agent.log")
    try:
        first = sock.recv(4096).decode()
        assert first == "READY=1\nSTATUS=serving as sd-agent, in the pool"
        # ready means serving and joined: the bus answers right away, and a lone agent is
        # its own pool's master by then
        with client_for(url, key, router) as client:
            assert client.request("ping", timeout=2)["node_id"] == "sd-agent"
            assert client.request("status", timeout=2)["pool"]["role"] == "master"
        assert sock.recv(4096).decode() == "WATCHDOG=1"
        proc.send_signal(15)
        for _ in range(100):  # bounded: watchdog pings may come before STOPPING
            msg = sock.recv(4096).decode()
            if msg != "WATCHDOG=1":
                break
        assert msg == "STOPPING=1"
        assert proc.wait(20) == 0
    finally:
        stop_process(proc)


def test_check_config_validates_without_starting(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[agent]\nnode_id = "a1"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nnode_id = "a1"\n[polling]\ntimeout = "soon"\n')
    run = [sys.executable, "-m", "agent.main", "--check-config"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "OK" in ok.stdout
    no = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=30)
    assert no.returncode == 2 and "polling.timeout: expected a number" in no.stderr


def test_sighup_reloads_the_config_without_stopping_and_refuses_a_bad_one(tmp_path):
    import signal as sig

    from lab.harness import (
        bus_key,
        client_for,
        sqlite_pool,
        start_agent,
        stop_process,
        wait_for_agent,
        write_agent_config,
    )
    from tests.helpers.waiting import wait_until

    url = sqlite_pool(tmp_path / "pool.db", {"profiles": [], "devices": []})
    conf = tmp_path / "agent.toml"
    router, _ = write_agent_config(conf, "hup-agent", tmp_path / "a", url, 60)
    proc = start_agent(conf, tmp_path / "agent.log")
    log = tmp_path / "agent.log"
    client = client_for(url, bus_key(url, tmp_path), router)
    try:
        wait_for_agent(client, proc, 30)
        good = conf.read_text().replace("[agent]\n", '[agent]\nlog_level = "DEBUG"\n')
        good = good.replace("interval = 60", "interval = 30")
        conf.write_text(good)
        proc.send_signal(sig.SIGHUP)
        wait_until(lambda: "configuration reloaded" in log.read_text(), 15, what="reload")
        assert "only a restart applies them: polling" in log.read_text()
        conf.write_text("[agent]\nnode_id = 5\n")
        proc.send_signal(sig.SIGHUP)
        wait_until(lambda: "reload refused" in log.read_text(), 15, what="refusal")
        assert proc.poll() is None
        assert client.request("ping", timeout=5)["node_id"] == "hup-agent"
    finally:
        client.close()
        stop_process(proc)
    assert proc.returncode == 0
