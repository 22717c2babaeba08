"""Dark and light themes (Fusion style with a palette of our own) and the severity colours
of X.733 practice (critical red, major orange, minor yellow, warning blue)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# severity -> (background, text on it)
SEVERITY_COLOURS: dict[str, tuple[str, str]] = {
    "critical": ("#d32f2f", "#ffffff"),
    "major": ("#f57c00", "#000000"),
    "minor": ("#fbc02d", "#000000"),
    "warning": ("#42a5f5", "#000000"),
    "indeterminate": ("#9e9e9e", "#000000"),
    "cleared": ("#43a047", "#ffffff"),
}

THEMES = ("dark", "light")

_DARK = {
    QPalette.ColorRole.Window: "#202428",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#16191c",
    QPalette.ColorRole.AlternateBase: "#1e2226",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#2b3036",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.Highlight: "#2f6db5",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#2b3036",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#8a9099",
    QPalette.ColorRole.Link: "#6fa8ff",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1b1f23",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f5f7fa",
    QPalette.ColorRole.Text: "#1b1f23",
    QPalette.ColorRole.Button: "#e8eaed",
    QPalette.ColorRole.ButtonText: "#1b1f23",
    QPalette.ColorRole.Highlight: "#2f6db5",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#ffffe0",
    QPalette.ColorRole.ToolTipText: "#1b1f23",
    QPalette.ColorRole.PlaceholderText: "#80868b",
    QPalette.ColorRole.Link: "#1a5fb4",
}


def apply(app: QApplication, name: str) -> None:
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r} (expected one of {', '.join(THEMES)})")
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (_DARK if name == "dark" else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6b7178" if name == "dark" else "#a0a4a8")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):  # fmt: skip
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)


def severity_brushes(severity: str) -> tuple[QColor, QColor]:
    bg, fg = SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["indeterminate"])
    return QColor(bg), QColor(fg)
