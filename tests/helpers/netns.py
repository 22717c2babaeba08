"""Network namespaces a test makes for itself: one per agent, joined by a bridge, each with
a private link to the host where the test's database proxy listens.

    with NetLab(["a", "b", "c"]) as net:          # pytest.skip if namespaces cannot be made
        proc = net.popen("a", [sys.executable, "-m", "agent.main", ...])
        proxy = net.db_proxy("a", 5432)           # host side of a's database link
        net.partition("c")                        # c's bridge port down: bus cut off
        net.heal("c")

Layout (R is picked per lab from 10.100-250.0.0/16 ranges the host does not use):

    hub namespace: bridge ``br0``; one port per member, and one for the host
    member namespace: ``lo`` up, ``bus0`` = 10.R.0.(10+i)/24 on the bridge,
                      ``db0`` = 10.R.(1+i).2/30, a point-to-point veth to the host (.1)
    host: 10.R.0.1/24 on the bridge (the test's bus clients reach the agents there)

The database link is separate from the bridge so a partition can cut the bus while a
member still reaches the database (or both: cut its proxy too). Namespaces cannot reach
the host's 127.0.0.1, hence the proxies (``tests/helpers/tcpproxy.py``).

Names carry the creating PID (``emsf<pid>x<seq>-...``): removing a lab removes only its
own namespaces, and a new lab first removes those whose creator died without cleaning up
(a crashed or killed run), after ending the processes still running in them. Deleting a namespace deletes the veth ends in it and so their
peers; processes started with ``popen`` are ended (by PID) before.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers.tcpproxy import ThreadedProxy

FAMILY = "emsf"  # every namespace these helpers make starts with it
_seq = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"{FAMILY}{os.getpid()}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Remove namespaces of this family whose creating process is gone; their names."""
    removed = []
    for name in _namespaces():
        if not name.startswith(FAMILY):
            continue
        digits = name[len(FAMILY) :].split("x", 1)[0]
        if digits.isdigit() and not _alive(int(digits)):
            # Agents a killed run left running in there: they would outlive the name.
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


@contextlib.contextmanager
def _choosing_range() -> Any:
    """Held while a lab picks its range and takes its first address in it: two test
    processes (pytest-xdist workers) must not pick the same free range at once."""
    with open(f"/tmp/{FAMILY}-range.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_range() -> int:
    """A second octet R such that 10.R.0.0/16 overlaps no address or route of the host."""
    used = _ip("-4", "route", "show", "table", "all", check=False).stdout
    used += _ip("-4", "addr", check=False).stdout
    nets = []
    for word in used.split():
        try:
            nets.append(ipaddress.IPv4Network(word, strict=False))
        except ValueError:
            continue
    candidates = list(range(100, 251))
    random.shuffle(candidates)
    for r in candidates:
        mine = ipaddress.IPv4Network(f"10.{r}.0.0/16")
        if not any(mine.overlaps(n) for n in nets if n.prefixlen > 0):
            return r
    raise RuntimeError("no free 10.R.0.0/16 range for the test network")


@dataclass
class Member:
    name: str
    netns: str
    address: str  # on the bridge (bus endpoints, traps)
    db_host: str  # the host's end of the database link: where this member's proxy listens
    hub_port: str  # its port on the bridge, in the hub namespace


class NetLab:
    def __init__(self, names: Sequence[str]) -> None:
        if len(names) > 200:
            raise ValueError("at most 200 members")
        self.prefix = f"{FAMILY}{os.getpid()}x{next(_seq)}"
        self.hub = f"{self.prefix}-hub"
        self.names = list(names)
        self.members: dict[str, Member] = {}
        self.host_address = ""
        self.procs: list[subprocess.Popen[bytes]] = []
        self.proxies: list[ThreadedProxy] = []
        self._r = 0

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> NetLab:
        reason = unavailable()
        if reason is not None:
            pytest.skip(reason)
        remove_stale()
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        tag = self.prefix[len(FAMILY) :]  # host-side interface names: <= 15 characters
        _ip("netns", "add", self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        host_leg = f"e{tag}h"[:15]
        _ip("link", "add", host_leg, "type", "veth", "peer", "name", "host", "netns", self.hub)
        _ip("-n", self.hub, "link", "set", "host", "master", "br0", "up")
        with _choosing_range():  # the address makes the range used for the next chooser
            self._r = r = _free_range()
            self.host_address = f"10.{r}.0.1"
            _ip("addr", "add", f"{self.host_address}/24", "dev", host_leg)
        _ip("link", "set", host_leg, "up")
        for i, name in enumerate(self.names):
            ns = f"{self.prefix}-{name}"
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            port = f"p{i}"
            _ip(
                "-n",
                ns,
                "link",
                "add",
                "bus0",
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                self.hub,
            )
            _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
            address = f"10.{r}.0.{10 + i}"
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "bus0")
            _ip("-n", ns, "link", "set", "bus0", "up")
            db_leg = f"e{tag}d{i}"[:15]
            _ip("link", "add", db_leg, "type", "veth", "peer", "name", "db0", "netns", ns)
            db_host = f"10.{r}.{1 + i}.1"
            _ip("addr", "add", f"{db_host}/30", "dev", db_leg)
            _ip("link", "set", db_leg, "up")
            _ip("-n", ns, "addr", "add", f"10.{r}.{1 + i}.2/30", "dev", "db0")
            _ip("-n", ns, "link", "set", "db0", "up")
            self.members[name] = Member(name, ns, address, db_host, port)
        self._wait_links()

    def _wait_links(self, timeout: float = 10.0) -> None:
        """Until the bridge and every port on it are up (carrier from both ends)."""
        deadline = time.monotonic() + timeout
        want = {"br0", "host", *(m.hub_port for m in self.members.values())}
        up: set[str] = set()
        while time.monotonic() < deadline:
            out = _ip("-n", self.hub, "-br", "link", check=False).stdout
            up = {f[0].split("@")[0] for f in map(str.split, out.splitlines()) if f[1:2] == ["UP"]}
            if want <= up:
                return
            time.sleep(0.1)
        raise RuntimeError(f"bridge ports not up after {timeout:g} s: {sorted(want - up)}")

    def close(self) -> None:
        """End our processes (by PID), stop the proxies, remove our namespaces."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for proxy in self.proxies:
            proxy.close()
        for ns in _namespaces():
            if ns.startswith(self.prefix + "-"):
                _ip("netns", "del", ns, check=False)

    # -- using it -----------------------------------------------------------------------
    def command(self, name: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.members[name].netns, *argv]

    def run(
        self, name: str, argv: Sequence[str], timeout: float = 30.0, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(name, argv), capture_output=True, text=True, timeout=timeout, **kw
        )

    def popen(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        """A process in member ``name``'s namespace (``ip netns exec`` execs it: the PID is
        the process's own), ended by ``close`` if still running."""
        proc = subprocess.Popen(self.command(name, argv), **kw)
        self.procs.append(proc)
        return proc

    def db_proxy(
        self, name: str, target_port: int, target_host: str = "127.0.0.1"
    ) -> ThreadedProxy:
        """A TCP proxy on the host's end of ``name``'s database link to ``target``; started,
        stopped by ``close``."""
        proxy = ThreadedProxy(target_host, target_port, host=self.members[name].db_host)
        proxy.start()
        self.proxies.append(proxy)
        return proxy

    def partition(self, *names: str) -> None:
        """Cut these members off the bridge (their database links stay)."""
        for name in names:
            _ip("-n", self.hub, "link", "set", self.members[name].hub_port, "down")

    def heal(self, *names: str) -> None:
        for name in names or self.names:
            _ip("-n", self.hub, "link", "set", self.members[name].hub_port, "up")
