"""Bounded cache of the per-target configuration written into the shared SnmpEngine.

pysnmp addresses a request by a *target name* that points at rows in its local configuration
(community / USM user, target parameters, target address). Writing those rows costs far more
than a request, so each (host, port, profile, timeout, retries) gets its rows once and keeps
them while it is in use. The cache is an LRU bounded by ``max_targets``; credentials rows are
reference-counted and shared by every target with the same credentials. A profile that comes
back under the same name with different settings invalidates everything built from the old one.

pysnmp's USM table is indexed by (engine ID, user name): one engine cannot hold two different
key sets for the same v3 user name. A profile that reuses a user name with other keys goes to
an extra engine ("slot"); in the common case there is only the first one.

With ``lean_v3``, v3 targets are lean too and go through _v3.V3Transport (every protocol of
shared/snmp_security.py, DES included).

``retain_profiles`` is how a changed or deleted profile leaves no trace: every target built
from a profile that is no longer current goes, with its engine rows, and the caller drops
the keys no remaining target uses (``v3_users``).

With ``lean_v1v2c`` (the default of SnmpClient), v1/v2c targets write no engine rows at all:
they only carry the resolved address and the community for our own transport (_v2c.py), and
an engine is created only once a v3 target needs one. They still share the LRU bound and the
profile invalidation with v3 targets.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config

from agent.usm import UsmUser, usm_user
from shared.model import CredentialProfile

from ._security import Security, security_for

TargetKey = tuple[str, int, CredentialProfile, float, int]


@dataclass(slots=True)
class _Credentials:
    security_name: str
    params_name: str
    security: Security
    slot: _Slot
    users: int = 0  # targets referring to these rows


@dataclass(slots=True)
class _Slot:
    """One SnmpEngine with its transports and the v3 user names it holds."""

    engine: Any
    transports: set[tuple[int, ...]] = field(default_factory=set)
    v3_users: dict[str, CredentialProfile] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    engine: Any  # None: a lean v1/v2c target, sent by _v2c.V2cTransport
    addr_name: str
    credentials: CredentialProfile  # key of the shared _Credentials
    address: tuple[str, int] = ("", 0)
    ipv6: bool = False
    version: int = 1  # message version of a lean target: 0 = v1, 1 = v2c
    community: bytes = field(default=b"", repr=False)
    usm: UsmUser | None = None  # a lean v3 target, sent by _v3.V3Transport


class TargetRegistry:
    """Maps targets to (engine, pysnmp target name), creating and deleting engine rows."""

    def __init__(
        self,
        engine_factory: Callable[[], Any],
        *,
        max_targets: int,
        lean_v1v2c: bool = False,
        lean_v3: bool = False,
    ) -> None:
        if max_targets < 1:
            raise ValueError("max_targets must be >= 1")
        self._engine_factory = engine_factory
        self._lean = lean_v1v2c
        self._lean_v3 = lean_v3
        self._slots: list[_Slot] = []
        self._max_targets = max_targets
        self._targets: OrderedDict[TargetKey, Target] = OrderedDict()
        self._credentials: dict[CredentialProfile, _Credentials] = {}
        self._profiles: dict[str, CredentialProfile] = {}  # name -> last version seen
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._targets)

    @property
    def engines(self) -> int:
        return len(self._slots)

    def lookup(self, key: TargetKey) -> Target | None:
        """The cached target (marked recently used), or None."""
        target = self._targets.get(key)
        if target is not None:
            self._targets.move_to_end(key)
        return target

    def add(self, key: TargetKey, address: tuple[str, int], ipv6: bool) -> Target:
        """Create the engine rows for a target whose address is resolved; evict the LRU one."""
        existing = self.lookup(key)
        if existing is not None:  # another task raced us through address resolution
            return existing
        _host, _port, profile, timeout, retries = key
        security = security_for(profile)  # ConfigError before touching any engine
        self._check_profile_version(profile)
        creds_key = dataclasses.replace(profile, name="")
        if self._lean and security.mp_model != 3:
            target = Target(
                None, "", creds_key, address, ipv6, security.mp_model, profile.community.encode()
            )
            self._store(key, target)
            return target
        user = usm_user(profile) if self._lean_v3 and security.mp_model == 3 else None
        if user is not None:
            target = Target(None, "", creds_key, address, ipv6, 3, usm=user)
            self._store(key, target)
            return target
        creds = self._credentials.get(creds_key)
        if creds is None:
            creds = self._create_credentials(creds_key, security)
        engine = creds.slot.engine
        domain = self._ensure_transport(creds.slot, ipv6)
        addr_name = f"emspool-a{next(self._ids)}"
        config.add_target_address(
            engine,
            addr_name,
            domain,
            address,
            creds.params_name,
            timeout=round(timeout * 100),  # the MIB counts in 1/100 s
            retryCount=retries,
        )
        creds.users += 1
        target = Target(engine, addr_name, creds_key, address, ipv6)
        self._store(key, target)
        return target

    def _store(self, key: TargetKey, target: Target) -> None:
        self._targets[key] = target
        while len(self._targets) > self._max_targets:
            self._drop(next(iter(self._targets)))

    def invalidate_profile(self, name: str) -> int:
        """Forget every target built from profile ``name``; returns how many were dropped."""
        self._profiles.pop(name, None)
        stale = [k for k in self._targets if k[2].name == name]
        for key in stale:
            self._drop(key)
        return len(stale)

    def retain_profiles(self, current: Iterable[CredentialProfile]) -> int:
        """Drop every target whose profile is not in ``current`` as it is there (by name and
        content); returns how many were dropped."""
        wanted = {p.name: p for p in current}
        stale = [k for k in self._targets if wanted.get(k[2].name) != k[2]]
        for key in stale:
            self._drop(key)
        self._profiles = {n: p for n, p in self._profiles.items() if wanted.get(n) == p}
        return len(stale)

    def v3_users(self) -> set[UsmUser]:
        """The USM users of the cached lean v3 targets (whose keys may stay cached)."""
        return {t.usm for t in self._targets.values() if t.usm is not None}

    def close(self) -> None:
        """Delete every row, close the sockets and the engines' dispatchers."""
        for key in list(self._targets):
            self._drop(key)
        for slot in self._slots:
            for domain in slot.transports:
                transport = config.get_transport(slot.engine, domain)
                config.delete_transport(slot.engine, domain)
                if transport is not None:
                    transport.close_transport()
            dispatcher = slot.engine.transport_dispatcher
            if dispatcher is not None:
                dispatcher.close_dispatcher()
        self._slots.clear()

    def _check_profile_version(self, profile: CredentialProfile) -> None:
        previous = self._profiles.get(profile.name)
        if previous is not None and previous != profile:
            self.invalidate_profile(profile.name)
        self._profiles[profile.name] = profile

    def _slot_for(self, key: CredentialProfile, security: Security) -> _Slot:
        for slot in self._slots:
            holder = slot.v3_users.get(key.user)
            if security.mp_model != 3 or holder is None or holder == key:
                return slot
        slot = _Slot(self._engine_factory())
        self._slots.append(slot)
        return slot

    def _create_credentials(self, key: CredentialProfile, security: Security) -> _Credentials:
        slot = self._slot_for(key, security)
        n = next(self._ids)
        if security.mp_model == 3:
            # USM indexes users by name; the name must be the security name (see module doc).
            security_name = key.user
            config.add_v3_user(
                slot.engine,
                key.user,
                security.auth_protocol or config.USM_AUTH_NONE,
                key.auth_key or None,
                security.priv_protocol or config.USM_PRIV_NONE,
                key.priv_key or None,
            )
            slot.v3_users[key.user] = key
        else:
            security_name = f"emspool-s{n}"
            config.add_v1_system(slot.engine, security_name, key.community)
        params_name = f"emspool-p{n}"
        config.add_target_parameters(
            slot.engine, params_name, security_name, security.level, security.mp_model
        )
        creds = _Credentials(security_name, params_name, security, slot)
        self._credentials[key] = creds
        return creds

    @staticmethod
    def _ensure_transport(slot: _Slot, ipv6: bool) -> tuple[int, ...]:
        domain: tuple[int, ...] = udp6.DOMAIN_NAME if ipv6 else udp.DOMAIN_NAME
        if domain not in slot.transports:
            transport = udp6.Udp6AsyncioTransport() if ipv6 else udp.UdpAsyncioTransport()
            config.add_transport(slot.engine, domain, transport.open_client_mode())
            slot.transports.add(domain)
        return domain

    def _drop(self, key: TargetKey) -> None:
        target = self._targets.pop(key)
        if target.engine is None:  # lean target: nothing in any engine
            return
        config.delete_target_address(target.engine, target.addr_name)
        creds = self._credentials[target.credentials]
        creds.users -= 1
        if creds.users:
            return
        del self._credentials[target.credentials]
        engine = creds.slot.engine
        config.delete_target_parameters(engine, creds.params_name)
        if creds.security.mp_model == 3:
            # Also drops the copies localized for each discovered NE engine.
            config.delete_v3_user(engine, creds.security_name)
            del creds.slot.v3_users[target.credentials.user]
        else:
            config.delete_v1_system(engine, creds.security_name)
