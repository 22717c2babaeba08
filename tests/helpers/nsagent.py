"""Agents and labs inside a test's network namespaces (``tests/helpers/netns.py``): the
agent's bus and traps on its bridge address, its database through the member's proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from lab.fleet import Lab
from lab.harness import write_agent_config
from tests.helpers.netns import NetLab
from tests.helpers.poolview import BusAddr, Look, Role, agent_bus
from tests.helpers.tcpproxy import ThreadedProxy

REPO = Path(__file__).resolve().parents[2]  # where ``tests`` imports from
ROUTER_PORT, PUB_PORT, TRAP_PORT = 7101, 7102, 16162  # each namespace has every port free


@dataclass
class NsAgent:
    name: str
    bus: BusAddr  # its ROUTER and CURVE public key, with the test's key
    pub: str
    trap: tuple[str, int]
    proxy: ThreadedProxy
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None


def prepare_agent(
    net: NetLab,
    name: str,
    root: Path,
    db_url: str,
    interval: float,
    key_file: Path,
    **sections: dict[str, object],
) -> NsAgent:
    """A config for an agent in ``name``'s namespace whose database (``db_url``, on the
    host) it reaches through a new proxy on its database link, and its bus key pair (made
    here, as the agent would at its first start, so the test knows its public key before
    it runs). ``key_file``: the test's client key. Nothing is started."""
    m = net.members[name]
    direct = make_url(db_url)
    proxy = net.db_proxy(name, direct.port or 5432, direct.host or "127.0.0.1")
    via = direct.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)
    router, pub = f"tcp://{m.address}:{ROUTER_PORT}", f"tcp://{m.address}:{PUB_PORT}"
    config = root / f"{name}.toml"
    sections = {
        "bus": {"router": router, "pub": pub},
        "traps": {"host": m.address, "port": TRAP_PORT},
        **sections,
    }
    data_dir = root / name
    write_agent_config(config, name, data_dir, via, interval, **sections)
    bus = agent_bus(router, data_dir, key_file)
    return NsAgent(name, bus, pub, (m.address, TRAP_PORT), proxy, config, root / f"{name}.log")


def start_agent(net: NetLab, agent: NsAgent) -> subprocess.Popen[bytes]:
    with open(agent.log, "ab") as logf:
        agent.proc = net.popen(
            agent.name,
            [sys.executable, "-m", "agent.main", "--config", str(agent.config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    return agent.proc


# Lab.start in the namespace: its snmpsim processes (own sessions) stay there after it exits.
_START_LAB = "import sys\nfrom lab.fleet import Lab\nLab.open(sys.argv[1]).start()\n"


def start_lab_in(net: NetLab, name: str, lab: Lab, timeout: float = 90.0) -> None:
    """Start ``lab``'s devices on the loopback of ``name``'s namespace (only agents there
    reach them). Faults that edit recordings (if_down, restart, ...) still work from the
    host; stop it with ``lab.stop()`` (by PID) before the namespace goes."""
    done = net.run(name, [sys.executable, "-c", _START_LAB, str(lab.state_dir)], timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"lab did not start in {name}: {done.stderr[-2000:]}")


def log_tail(agent: NsAgent, chars: int = 3000) -> str:
    try:
        return agent.log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# From inside a member's namespace: its own bus address answers even while its bridge port
# is down, so the test sees a partitioned agent as it sees itself.
_PROBE = """
import json, sys
from pathlib import Path
from tests.helpers.poolview import BusAddr, look
lk = look(BusAddr(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
print(json.dumps(None if lk is None else [lk.role.role, lk.role.master, lk.role.epoch, lk.nes]))
"""


def probe(net: NetLab, agent: NsAgent) -> Look | None:
    """The agent's election view and polled NEs, asked from inside its namespace."""
    done = net.run(
        agent.name, [sys.executable, "-c", _PROBE, *agent.bus.argv()], timeout=20, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe of {agent.name} failed: {done.stderr[-1500:]}")
    data = json.loads(done.stdout)
    if data is None:
        return None
    role, master, epoch, nes = data
    return Look(Role(role, master, epoch), {k: (int(v[0]), bool(v[1])) for k, v in nes.items()})


_LAST_POLLS = """
import json, sys
from pathlib import Path
from tests.helpers.poolview import BusAddr, request
states = request(BusAddr(sys.argv[1], sys.argv[2], Path(sys.argv[3])), "ne_states")
print(json.dumps(None if states is None else {s["name"]: s.get("last_poll") or 0 for s in states}))
"""


def last_polls(net: NetLab, agent: NsAgent) -> dict[str, float] | None:
    """NE -> the agent's last poll attempt (its clock; 0 never), failed ones included
    (the ``polls`` count has successes only), asked from inside its namespace."""
    done = net.run(
        agent.name, [sys.executable, "-c", _LAST_POLLS, *agent.bus.argv()], timeout=20, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"last polls of {agent.name} failed: {done.stderr[-1500:]}")
    data = json.loads(done.stdout)
    return None if data is None else {k: float(v) for k, v in data.items()}
