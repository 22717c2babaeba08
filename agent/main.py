"""`emspool-agent --config FILE`: run one management server until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from agent import logs, metrics
from agent.aiotools import with_deadline
from agent.app import Agent
from agent.systemd import Notifier
from shared.config import AgentConfig, parse_config
from shared.errors import ConfigError, EmspoolError

log = logging.getLogger("agent.main")


def load_config(path: str) -> AgentConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, path)


class _StopSignals:
    """SIGTERM/SIGINT for a running agent. The first cancels it, and it then stops in order
    and flushes its event log; the second only shortens that flush (``Agent.hurry``); any
    later one is logged and ignored: no signal abandons a shutdown half way. (systemd's
    SIGKILL after TimeoutStopSec is the hard stop; the outbox file survives that.)

    Plain ``signal.signal`` handlers rather than ``loop.add_signal_handler``: those are
    removed when the loop closes, and a signal arriving after that (a second SIGTERM
    while asyncio.run winds down) would kill the process with the default action.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in self.SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        loop = self._loop
        try:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._handle, signal.Signals(signum))
                return
        except RuntimeError:  # the loop closed meanwhile
            pass
        self.received += 1  # after the agent ended: nothing left to stop

    def _handle(self, sig: signal.Signals) -> None:
        self.received += 1
        if self.received == 1:
            log.info("%s received: stopping", sig.name)
            if self._task is not None:
                self._task.cancel()
        else:
            log.warning("%s received again while stopping", sig.name)
            self.agent.hurry()


JOIN_WAIT = 30.0  # seconds readiness waits for the pool to have a master


def _install_reload(agent: Agent, config_path: str, notifier: Notifier) -> None:
    """SIGHUP (systemctl reload): re-read the config file; a bad file changes nothing."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        notifier.reloading()
        try:
            new = load_config(config_path)
            ignored = agent.reconfigure(new)  # a bad secrets key file refuses it too
        except ConfigError as e:
            log.error("reload refused, keeping the running configuration: %s", e)
        else:
            log.info("configuration reloaded (log level, profiles, secrets key, inventory)")
            if ignored:
                log.warning("changed, but only a restart applies them: %s", ", ".join(ignored))
        notifier.ready(f"serving as {agent.node_id} (reloaded)")

    def on_hup(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(reload)

    signal.signal(signal.SIGHUP, on_hup)


async def _run(agent: Agent, config_path: str = "") -> None:
    stop = _StopSignals(agent)
    stop.install()
    notifier = Notifier()
    if config_path:
        _install_reload(agent, config_path, notifier)

    exporter: list[Any] = []

    async def tell_systemd() -> None:
        await agent.ready.wait()
        m = agent.config.metrics
        if m.enabled:
            try:
                exporter.append(metrics.serve(agent, m.host, m.port)[0])
            except OSError as e:  # the agent still works; its operators must hear of it
                log.error("metrics: cannot listen on %s:%d: %s", m.host, m.port, e.strerror)
        # Ready means joined: a master is known (this agent or another), so its NEs are
        # assigned. A pool that cannot elect (database down) must not keep systemd waiting
        # for ever: after JOIN_WAIT it is ready anyway, and says so.
        try:
            await with_deadline(agent.joined.wait(), JOIN_WAIT)
            notifier.ready(f"serving as {agent.node_id}, in the pool")
        except TimeoutError:
            log.warning("no master after %g s: serving without one for now", JOIN_WAIT)
            notifier.ready(f"serving as {agent.node_id}, no master yet")
        await notifier.feed_watchdog()

    systemd = asyncio.create_task(tell_systemd(), name="systemd")
    try:
        await agent.run()
    except asyncio.CancelledError:
        if stop.received == 0:
            raise  # not a stop signal: let asyncio.run report it
        # the clean way out: run() has closed everything and flushed the outbox
    finally:
        notifier.stopping()
        systemd.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await systemd
        for server in exporter:
            server.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="emspool-agent",
        description=__doc__,
        epilog="Stopping: SIGTERM or SIGINT stops the agent in order and flushes its event log "
        "(up to 10 s for the database; whatever is not written stays in the local outbox and "
        "goes first at the next start). A second signal cuts that flush to 1 s; later ones "
        "are ignored.",
    )
    ap.add_argument("--config", help="agent configuration (TOML)")
    ap.add_argument("--check", action="store_true", help="validate the config and exit")
    ap.add_argument(
        "--check-config", metavar="FILE", help="validate FILE without starting (exit 2 if bad)"
    )
    ap.add_argument(
        "--config-reference", action="store_true", help="print the configuration reference"
    )
    ap.add_argument(
        "--default-config",
        metavar="NODE_ID",
        help="print a config for NODE_ID with every option commented out at its default",
    )
    args = ap.parse_args(argv)
    if args.config_reference or args.default_config:
        from agent import configdoc

        print(
            configdoc.markdown()
            if args.config_reference
            else configdoc.default_toml(args.default_config)
        )
        return 0
    if args.check_config:
        args.config, args.check = args.check_config, True
    if not args.config:
        ap.error("--config FILE (or --check-config FILE) is required")
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"emspool-agent: configuration error: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK (node {config.node_id})")
        return 0
    logs.setup(config.log_level, config.node_id, config.log_format)
    try:
        asyncio.run(_run(Agent(config), args.config))
    except EmspoolError as e:
        print(f"emspool-agent: {e}", file=sys.stderr)
        return 1
    finally:
        # The agent has stopped; Python's finalisation would put back the default action,
        # and a late second SIGTERM would then end a clean exit as "killed by SIGTERM".
        for sig in (*_StopSignals.SIGNALS, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
