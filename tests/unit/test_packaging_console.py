"""The console's desktop entry and icon under packaging/: the entry names the installed
command and the icon, and the icon is a well-formed SVG of the size it says."""

from __future__ import annotations

import configparser
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_desktop_entry_starts_the_console_with_its_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read(ROOT / "packaging" / "emspool-console.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert d["Type"] == "Application" and d["Terminal"] == "false"
    assert d["Exec"].split()[0] in scripts and scripts[d["Exec"].split()[0]] == "console.main:main"
    assert (ROOT / "packaging" / f"{d['Icon']}.svg").exists()
    assert d["StartupWMClass"] == "emspool-console"  # console/main.py's desktop file name
    assert "Network" in d["Categories"].split(";")


def test_the_icon_is_a_square_svg():
    root = ET.parse(ROOT / "packaging" / "emspool-console.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 48 48" and root.get("width") == root.get("height")
