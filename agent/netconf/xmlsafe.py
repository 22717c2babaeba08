"""Hardened parsing of everything an NE sends us.

ncclient would parse replies with a default lxml parser that expands internal
entities (billion laughs) and accepts any depth it is told to. Our session parses
every message here first and ncclient's own parser only ever sees messages that
passed: no DTD at all (so no entities, internal or external), libxml2's default
depth limit (256) and a byte cap.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree

from .errors import HostileXmlError, NetconfProtocolError

_local = threading.local()


def _parser() -> Any:
    # lxml parsers must not be shared between threads; each session thread gets its own.
    p = getattr(_local, "parser", None)
    if p is None:
        p = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = p
    return p


class MalformedXml(NetconfProtocolError):
    """Not well-formed XML (but nothing hostile either)."""


def parse(raw: str | bytes, max_bytes: int) -> Any:
    """Parse one NETCONF message; raise HostileXmlError or MalformedXml, never expand anything."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise HostileXmlError(f"message of {len(data)} bytes exceeds the {max_bytes}-byte cap")
    # NETCONF never needs a DTD; refusing it outright stops entity tricks before parsing.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise HostileXmlError("message carries a DOCTYPE/ENTITY declaration (refused)")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        msg = str(e)
        if "depth" in msg.lower() or "huge" in msg.lower():
            raise HostileXmlError(f"message nested too deep or too large: {msg[:120]}") from None
        raise MalformedXml(f"malformed XML: {msg[:160]}") from None
    if root is None:
        raise MalformedXml("empty message")
    return root
