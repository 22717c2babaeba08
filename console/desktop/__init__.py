"""The console's desktop entry and icon, shipped inside the package (a wheel or pipx
install has no other place for them), and their installation into the user's XDG data
directory (``emspool-console --install-desktop``): the launcher then finds the console
and its icon like any other application."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENTRY = HERE / "emspool-console.desktop"
ICON = HERE / "emspool-console.svg"


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share (the XDG base directory default)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def install(home: Path | None = None, executable: str | None = None) -> list[Path]:
    """Copy the entry and the icon under ``home`` (default: data_home()); the entry's Exec
    names ``executable`` when given (a pipx venv's launcher is on PATH, a plain venv's may
    not be). Returns the files written."""
    home = home or data_home()
    apps = home / "applications"
    icons = home / "icons" / "hicolor" / "scalable" / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    entry = apps / ENTRY.name
    text = ENTRY.read_text(encoding="utf-8")
    if executable:
        text = text.replace("Exec=emspool-console", f"Exec={executable}", 1)
    entry.write_text(text, encoding="utf-8")
    icon = icons / ICON.name
    shutil.copyfile(ICON, icon)
    return [entry, icon]
