"""Run the responder of a scale lab until SIGINT/SIGTERM or a ``stop`` on its control socket."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

from agent.usm import usm_user
from lab.state import V3_PROFILE
from shared.errors import LabError

from . import layout
from .control import ControlServer
from .responder import Responder
from .v3 import Engines


def build(state_dir: Path, trap_target: tuple[str, int] | None = None) -> Responder:
    settings = layout.load(state_dir)
    state = layout.lab_state(settings)
    user = usm_user(state.profiles()[V3_PROFILE])
    if user is None:
        raise LabError("the lab's v3 profile is not SNMPv3")
    devices = layout.devices(settings, started=time.time())
    community = settings.community.encode()
    return Responder(devices, settings.port, community, Engines(user), trap_target)


async def serve(
    state_dir: Path,
    trap_target: tuple[str, int] | None = None,
    on_ready: Callable[[Responder, float], None] | None = None,
) -> None:
    t0 = time.monotonic()
    responder = build(state_dir, trap_target)
    responder.open()
    control = ControlServer(responder, state_dir)
    loop = asyncio.get_running_loop()
    try:
        await control.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, control.stop_requested.set)
        if on_ready is not None:
            on_ready(responder, time.monotonic() - t0)
        await control.stop_requested.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await control.close()
        responder.close()
