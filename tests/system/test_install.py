"""packaging/install.sh and uninstall.sh for real, as root: a system user, a virtualenv built
from this checkout, the unit, the commented default config and the secrets key; the
installed agent runs as that user; an upgrade keeps the config; uninstall keeps the data
unless --purge. Paths go to a temporary root, so nothing of the machine's own is touched
except the test's uniquely named user, which is removed at the end."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab.harness import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="no useradd"),
]


def run(*argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{argv[0]} failed:\n{out.stdout}\n{out.stderr}"
    return out


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_install_run_upgrade_uninstall():
    user = "emspt" + secrets.token_hex(3)
    base = Path(tempfile.mkdtemp(prefix="emspool-install-"))
    base.chmod(0o755)  # the service user must reach the virtualenv under it
    paths = {
        "--prefix": base / "opt",
        "--etc": base / "etc",
        "--state": base / "state",
        "--unit-dir": base / "units",
    }
    opts = [str(x) for kv in paths.items() for x in kv] + ["--user", user]
    install = [ROOT / "packaging" / "install.sh", "--source", ROOT, "--node-id", "mgmt-1", *opts]
    etc, state, prefix = paths["--etc"], paths["--state"], paths["--prefix"]
    proc = None
    try:
        run(*install, "--no-start")
        entry = pwd.getpwnam(user)
        assert entry.pw_shell.endswith("nologin")
        config = etc / "agent.toml"
        key = etc / "pool-secrets.key"
        assert stat.S_IMODE(config.stat().st_mode) == 0o640
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == entry.pw_uid
        assert stat.S_IMODE(state.stat().st_mode) == 0o750
        text = config.read_text()
        assert 'node_id = "mgmt-1"' in text and f'data_dir = "{state}"' in text
        assert "# interval = 60" in text  # every other option shown, commented
        assert f'key_file = "{etc}/pool-secrets.key"' in text
        unit = (paths["--unit-dir"] / "emspool-agent.service").read_text()
        assert f"User={user}" in unit and f"{prefix}/venv/bin/emspool-agent" in unit
        if shutil.which("systemd-analyze"):
            out = subprocess.run(
                [
                    "systemd-analyze",
                    "verify",
                    "--man=no",
                    str(paths["--unit-dir"] / "emspool-agent.service"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr

        # The installed agent runs as the service user, on free ports.
        router, pub, traps = free_port(), free_port(), free_port()
        text = re.sub(r'# router = ".*"', f'router = "tcp://127.0.0.1:{router}"', text)
        text = re.sub(r'# pub = ".*"', f'pub = "tcp://127.0.0.1:{pub}"', text)
        text = re.sub(r"# port = 10162", f"port = {traps}", text)
        text += "\n# local edit kept by upgrades\n"
        config.write_text(text)
        log = base / "agent.log"
        with log.open("wb") as out_file:
            proc = subprocess.Popen(
                [prefix / "venv" / "bin" / "emspool-agent", "--config", config],
                stdout=out_file,
                stderr=subprocess.STDOUT,
                cwd=state,
                user=user,
                group=user,
                extra_groups=[],
            )
        deadline = time.monotonic() + 60
        while "agent started" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"installed agent exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"installed agent not started:\n{log.read_text()}"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        proc = None
        owned = {p.name: p.stat().st_uid for p in state.iterdir()}
        assert owned.get("emspool.db") == entry.pw_uid, owned

        # Upgrade: the same script again keeps the edited config and the key.
        key_before = key.read_bytes()
        run(*install, "--no-start")
        assert "local edit kept by upgrades" in config.read_text()
        assert key.read_bytes() == key_before

        uninstall = [ROOT / "packaging" / "uninstall.sh", *opts]
        run(*uninstall)
        assert not prefix.exists() and not (paths["--unit-dir"] / "emspool-agent.service").exists()
        assert config.exists() and (state / "emspool.db").exists() and user_exists(user)
        run(*uninstall, "--purge")
        assert not etc.exists() and not state.exists() and not user_exists(user)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if user_exists(user):
            subprocess.run(["userdel", user], check=False, timeout=30)
        subprocess.run(["groupdel", user], check=False, timeout=30, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
