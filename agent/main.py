"""`emspool-agent --config FILE`: run one management server until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from agent import logs
from agent.app import Agent
from shared.config import AgentConfig, parse_config
from shared.errors import ConfigError, EmspoolError


def load_config(path: str) -> AgentConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, path)


async def _run(agent: Agent) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await agent.run()
    except asyncio.CancelledError:
        pass  # the clean way out: run() has flushed the outbox on its way


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emspool-agent", description=__doc__)
    ap.add_argument("--config", required=True, help="agent configuration (TOML)")
    ap.add_argument("--check", action="store_true", help="validate the config and exit")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"emspool-agent: configuration error: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK (node {config.node_id})")
        return 0
    logs.setup(config.log_level, config.node_id)
    try:
        asyncio.run(_run(Agent(config)))
    except EmspoolError as e:
        print(f"emspool-agent: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
