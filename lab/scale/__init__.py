"""The scale lab: one asyncio process serving thousands of simulated SNMP NEs (v2c and v3),
each on its own loopback address, with the lab's per-device faults. For measuring the pool
at size; the correctness tests of the agent stay on snmpsim and net-snmp (``lab.fleet``).

    emspool lab scale --count 3000 --state-dir var/scale        # foreground, Ctrl-C stops
    emspool --db URL ne import var/scale/inventory.json
    emspool lab fault --state-dir var/scale rtr0007 if-down 3   # same faults as the lab

From Python (tests, benchmarks): ``lab.scale.fleet.ScaleLab``.
"""

from pathlib import Path

# Light on purpose: the ``emspool`` CLI imports this to tell a scale lab from a snmpsim one.
SETTINGS_FILE = "scale.json"
DEFAULT_BASE = "127.64.0.0"
DEFAULT_PORT = 16161


def is_scale_lab(state_dir: Path | str) -> bool:
    return (Path(state_dir) / SETTINGS_FILE).is_file()
