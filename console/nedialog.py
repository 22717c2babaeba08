"""The NE details window: three requests through the console's connection (the inventory,
the owner's live state routed by ``pool.ne_detail``, the last events), shown as they
arrive (console/nedetails.py makes the HTML); Refresh asks again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from console.nedetails import details_html

Request = Callable[..., None]
RECENT = 20  # events shown


class NeDetailsDialog(QDialog):
    def __init__(self, request: Request, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._request, self.name = request, name
        self.setWindowTitle(f"NE {name}")
        self.resize(900, 700)
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        refresh = QPushButton("&Refresh")
        close = QPushButton("&Close")
        refresh.clicked.connect(self.refresh)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.replies = 0
        self.refresh()

    def refresh(self) -> None:
        self.inventory: dict[str, Any] | None = None
        self.live: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] | None = None
        self.errors: dict[str, str] = {}
        self.replies = 0
        self._show()
        self._ask("db.inventory", {"ne": self.name}, "inventory")
        self._ask("pool.ne_detail", {"ne": self.name}, "live")
        self._ask("events.search", {"ne": self.name, "limit": RECENT}, "events")

    def _ask(self, op: str, args: dict[str, Any], part: str) -> None:
        self._request(
            op,
            args,
            on_result=lambda r: self._took(part, r),
            on_error=lambda e: self._failed(part, e),
        )

    def _took(self, part: str, reply: Any) -> None:
        if part == "inventory":
            items = reply.get("items") or []
            self.inventory = items[0] if items else None
            if not items:
                self.errors["inventory"] = "not in the pool's inventory"
        elif part == "live":
            self.live = reply
        else:
            self.events = list(reply.get("events") or [])
        self.replies += 1
        self._show()

    def _failed(self, part: str, error: Exception) -> None:
        self.errors[part] = str(error)
        self.replies += 1
        self._show()

    def _show(self) -> None:
        html = details_html(self.name, self.inventory, self.live, self.events, self.errors)
        self.view.setHtml(html)
