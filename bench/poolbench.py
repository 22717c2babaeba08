"""What the pool benchmarks share (not a benchmark itself): CPU and TCP bytes of processes
by PID from /proc and ``ss``, percentiles, a scale lab on a random /16, and waiting until
the pool's assignment table covers every NE and stays put."""

from __future__ import annotations

import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from lab.scale.fleet import ScaleLab

_TICKS = os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_of(pid: int) -> float:
    """user + system CPU seconds of one running process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), int(-(-q * len(data) // 100))))
    return data[rank - 1]


_USERS = re.compile(r"pid=(\d+),")
_COUNTER = re.compile(r"\b(bytes_sent|bytes_received):(\d+)")


def tcp_bytes(pids: Collection[int]) -> dict[int, tuple[int, int]]:
    """pid -> (bytes sent, bytes received) over its TCP sockets open now (``ss -tinpH``)."""
    out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True, check=True).stdout
    totals = {pid: (0, 0) for pid in pids}
    owner: int | None = None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            found = _USERS.search(line)
            owner = int(found.group(1)) if found else None
            continue
        if owner not in totals:
            continue
        got = dict(_COUNTER.findall(line))
        sent, received = totals[owner]
        totals[owner] = (
            sent + int(got.get("bytes_sent", 0)),
            received + int(got.get("bytes_received", 0)),
        )
    return totals


def scale_lab(root: Path, count: int, v3_share: float = 0.5) -> ScaleLab:
    lab = ScaleLab.create(
        root,
        count,
        base_address=f"127.{random.randint(100, 250)}.0.0",
        port=random.randint(20000, 60000),
        v3_share=v3_share,
    )
    lab.start(timeout=120)
    return lab


def settled(
    pool: Any,
    every: set[str],
    owners: Callable[[], set[str]],
    settle: float,
    timeout: float,
) -> Any:
    """The database's assignment table once it maps exactly ``every`` NE onto exactly the
    agents ``owners()`` names (re-read each time: agents come and go) and its version has not
    changed for ``settle`` s. SystemExit after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    since, version, table = 0.0, None, None
    while time.monotonic() < deadline:
        table = pool.assignment()
        ok = (
            table is not None
            and set(table.owners) == every
            and set(table.owners.values()) == owners()
        )
        if ok:
            if table.version != version:
                since, version = time.monotonic(), table.version
            elif time.monotonic() - since >= settle:
                return table
        else:
            since, version = 0.0, None
        time.sleep(0.2)
    shown = None if table is None else (table.epoch, table.version, len(table.owners))
    raise SystemExit(f"the assignment did not settle within {timeout:g} s (last: {shown})")


def poll_counts(pool: Any, nodes: Iterable[str]) -> dict[str, int]:
    """SNMP polls each agent has made so far (its ``status``)."""
    out: dict[str, int] = {}
    for node in nodes:
        status = pool.status(node, timeout=5.0)
        out[node] = int(status.get("poller", {}).get("polls", 0))
    return out


def wait_new_master(
    pool: Any, exclude: Collection[str], min_epoch: int, timeout: float, every: float = 0.02
) -> tuple[str, int]:
    """Like ``AgentPool.wait_for_master`` but checked every ``every`` s (the failover figure
    includes this resolution): every live agent names the same master, not in ``exclude``,
    at an epoch of at least ``min_epoch``, and that master says it is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views: dict[str, tuple[str, int, str]] = {}
        for node in pool.live:
            try:
                p = pool.status(node, timeout=1.0).get("pool", {})
            except Exception:  # an agent that does not answer (yet): no agreement
                break
            views[node] = (str(p.get("master") or ""), int(p.get("epoch") or 0), p.get("role"))
        else:
            masters = {(m, e) for m, e, _ in views.values()}
            if len(masters) == 1:
                master, epoch = masters.pop()
                if (
                    master
                    and master not in exclude
                    and epoch >= min_epoch
                    and views.get(master, ("", 0, ""))[2] == "master"
                ):
                    return master, epoch
        time.sleep(every)
    raise SystemExit(f"no new master within {timeout:g} s")
