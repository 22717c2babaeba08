"""A scale lab as tests and benchmarks use it: create its files, start its responder process,
inject faults, read what each device answered, stop it (by its own Popen only).

    lab = ScaleLab.create(tmp / "scale", count=300, base_address="127.66.0.0", port=port)
    lab.start(trap_target=("127.0.0.1", trap_port))
    lab.control.if_down("rtr0001", 3)      # a linkDown trap goes to the trap target
    mark = lab.control.mark()
    lab.control.polls()                    # name -> [last, first since mark, requests, sources]
    lab.stop()
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from shared.errors import LabError

from . import DEFAULT_BASE, DEFAULT_PORT, layout
from .control import ScaleControl

LOG_FILE = "scale.log"


class ScaleLab:
    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        state_dir: Path | str,
        count: int,
        topology: str = "ring",
        base_address: str = DEFAULT_BASE,
        port: int = DEFAULT_PORT,
        v3_share: float = 0.5,
    ) -> Self:
        lab = cls(state_dir)
        layout.create(lab.state_dir, count, topology, base_address, port, v3_share)
        return lab

    @property
    def settings(self) -> layout.ScaleSettings:
        return layout.load(self.state_dir)

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.json"

    def inventory(self) -> dict[str, Any]:
        return dict(json.loads(self.inventory_path.read_text()))

    @property
    def names(self) -> list[str]:
        return [str(d["name"]) for d in self.inventory()["devices"]]

    @property
    def control(self) -> ScaleControl:
        return ScaleControl(self.state_dir)

    def start(self, trap_target: tuple[str, int] | None = None, timeout: float = 60.0) -> float:
        """Start the responder process; wait until its control socket answers. Seconds taken."""
        if self.proc is not None and self.proc.poll() is None:
            raise LabError("this scale lab's responder is already running")
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "lab.scale", "serve", "--state-dir", str(self.state_dir)]
        if trap_target is not None:
            cmd += ["--trap-target", f"{trap_target[0]}:{trap_target[1]}"]
        with open(self.state_dir / LOG_FILE, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        control = ScaleControl(self.state_dir, timeout=2.0)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise LabError(
                    f"the scale responder exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if control.ping():
                return time.monotonic() - t0
            time.sleep(0.1)
        self.stop()
        raise LabError(f"the scale responder did not answer within {timeout:g} s")

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                ScaleControl(self.state_dir, timeout=2.0).stop()
            except LabError:
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.state_dir / LOG_FILE).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
