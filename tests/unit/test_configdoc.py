"""The configuration reference and the default config are made from the reader itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from agent import configdoc
from shared.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_the_reader_takes_is_documented_and_nothing_stale():
    undocumented, stale = configdoc.missing_docs()
    assert undocumented == [], f"add a line to agent/configdoc.py DOCS for {undocumented}"
    assert stale == [], f"DOCS names keys the reader no longer takes: {stale}"


def test_docs_configuration_md_is_up_to_date():
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current.strip() == configdoc.markdown().strip(), (
        "docs/configuration.md is stale: emspool-agent --config-reference > docs/configuration.md"
    )


def test_default_config_parses_and_uncommented_gives_the_same_config():
    text = configdoc.default_toml("mgmt-1")
    as_is = parse_config(text, "default")
    assert as_is.node_id == "mgmt-1"
    # Uncomment every option line (not the profile example): the defaults shown are the
    # reader's own defaults, so the result is the same configuration.
    lines = []
    in_profiles = False
    for line in text.splitlines():
        if line.startswith("# [[profiles]]"):
            in_profiles = True
        m = re.match(r"^# (\w+ = .*)$", line)
        if m and not in_profiles:
            line = m.group(1)
        lines.append(line)
    assert parse_config("\n".join(lines), "uncommented") == as_is


def test_agent_prints_both():
    ref = subprocess.run(
        [sys.executable, "-m", "agent.main", "--config-reference"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "| `interval` | number | `60` |" in ref.stdout
    out = subprocess.run(
        [sys.executable, "-m", "agent.main", "--default-config", "n1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'node_id = "n1"' in out.stdout
