"""The console installed the way a NOC desktop gets it (issue 15): a wheel of this tree
(what pipx installs) carries the desktop entry and icon, and `emspool-console
--install-desktop` puts them where the launcher looks ($XDG_DATA_HOME)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def test_the_wheel_carries_the_desktop_entry_and_icon(tmp_path):
    # Built from a copy of the sources: setuptools writes build/ and *.egg-info beside them.
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("agent", "console", "shared", "lab"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=skip)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(src)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("emspool-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "console/desktop/emspool-console.desktop",
        "console/desktop/emspool-console.svg",
    } <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "emspool-console = console.main:main" in text


def test_install_desktop_writes_the_entry_and_icon_for_this_user(tmp_path):
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "share"))
    env.pop("DISPLAY", None)  # needs no display
    out = subprocess.run(
        [sys.executable, "-m", "console.main", "--install-desktop"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    entry = tmp_path / "share/applications/emspool-console.desktop"
    icon = tmp_path / "share/icons/hicolor/scalable/apps/emspool-console.svg"
    assert f"installed {entry}" in out.stdout and icon.read_bytes().startswith(b"<")
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read(entry, encoding="utf-8")
    d = parsed["Desktop Entry"]
    assert d["Icon"] == "emspool-console" and d["Exec"].split()[0].endswith("emspool-console")
