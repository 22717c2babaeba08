"""Plain types of the NETCONF adapter: what the agent hands in instead of ncclient arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class NetconfTarget:
    """One NE as the NETCONF adapter addresses it. Secrets stay out of repr().

    Host-key verification cannot be turned off: give either ``host_key`` (a pinned
    "ssh-ed25519 AAAA..." line, as in known_hosts without the host field) or a
    ``known_hosts`` file that lists the NE.
    """

    host: str
    port: int = 830
    username: str = ""
    password: str = field(default="", repr=False)
    key_file: str | None = None
    host_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    timeout: float = 5.0
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES

    @property
    def where(self) -> str:
        """host:port for messages (never the credentials)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.port)
