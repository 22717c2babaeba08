"""The shapes in which simulated devices report interfaces and announce link changes.

Real servers differ, and a client that only meets one shape agrees with itself, not with
the world (see tests/data/netconf/README.md for the devices each shape is taken from):

Interface state (``DeviceSpec.shape``):
- ``nmda``: RFC 8343 ``/interfaces`` with the state leaves inside (netopeer2, sysrepo).
- ``legacy``: RFC 7223: ``/interfaces`` holds configuration only, state is in
  ``/interfaces-state`` (yuma123/netconfd, many routers).
- ``both``: NMDA ``/interfaces`` and the deprecated ``/interfaces-state`` side by side.

``sparse`` leaves out what devices often omit although RFC 7223 calls it mandatory
(type, admin-status, if-index, phys-address); ``shuffle`` lists the entries in a new order
on every reply.

Link notifications (``DeviceSpec.link_notifications``, any of):
- ``lab``: the lab's own ``interface-state-change`` (name, if-index, oper-status).
- ``interfaces-notifications``: yuma123's ``link-down``/``link-up`` with ``if-name``.
- ``if-mib``: IF-MIB ``linkDown``/``linkUp`` as RFC 6643 YANG, the way Cisco IOS-XE sends
  them (``object-2`` ifIndex + ifAdminStatus, ``object-3`` ifIndex + ifOperStatus).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NS_IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
NS_IANAIFT = "urn:ietf:params:xml:ns:yang:iana-if-type"
NS_LAB_NOTIF = "urn:emspool:lab:notifications"
NS_IFNOTIF = "http://yuma123.org/ns/interfaces-notifications"
NS_IF_MIB = "urn:ietf:params:xml:ns:yang:smiv2:IF-MIB"
NS_NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"

NMDA, LEGACY, BOTH = "nmda", "legacy", "both"
SHAPES = (NMDA, LEGACY, BOTH)
LAB, IFNOTIF, IF_MIB = "lab", "interfaces-notifications", "if-mib"
LINK_STYLES = (LAB, IFNOTIF, IF_MIB)
SPEED_BPS = 1_000_000_000

# Module capabilities a device of each kind announces in its hello.
_IF_MODULE = {
    NMDA: f"{NS_IF}?module=ietf-interfaces&revision=2018-02-20",
    BOTH: f"{NS_IF}?module=ietf-interfaces&revision=2018-02-20",
    LEGACY: f"{NS_IF}?module=ietf-interfaces&revision=2014-05-08",
}
_STYLE_MODULE = {
    LAB: f"{NS_LAB_NOTIF}?module=emspool-lab-notifications&revision=2024-01-01",
    IFNOTIF: f"{NS_IFNOTIF}?module=interfaces-notifications&revision=2016-11-12",
    IF_MIB: f"{NS_IF_MIB}?module=IF-MIB&revision=2000-06-14",
}
_NCN_MODULE = f"{NS_NCN}?module=ietf-netconf-notifications&revision=2012-02-06"


@dataclass(frozen=True, slots=True)
class PortView:
    """One port as a reply shows it."""

    ifindex: int
    name: str
    enabled: bool
    oper_up: bool
    description: str
    in_octets: int
    out_octets: int
    phys_address: str


def capabilities(shape: str, styles: Iterable[str], config_change: bool) -> list[str]:
    caps = [_IF_MODULE[shape], *(_STYLE_MODULE[s] for s in styles)]
    return caps + ([_NCN_MODULE] if config_change else [])


def _config_leaves(p: PortView, with_type: bool) -> str:
    kind = "<type>ianaift:ethernetCsmacd</type>" if with_type else ""
    return (
        f"<name>{escape(p.name)}</name>{kind}"
        f"<enabled>{'true' if p.enabled else 'false'}</enabled>"
        f"<description>{escape(p.description)}</description>"
    )


def _state_leaves(p: PortView, sparse: bool, boot: str) -> str:
    out = [] if sparse else [f"<admin-status>{'up' if p.enabled else 'down'}</admin-status>"]
    out.append(f"<oper-status>{'up' if p.oper_up else 'down'}</oper-status>")
    if not sparse:
        out.append(f"<if-index>{p.ifindex}</if-index><phys-address>{p.phys_address}</phys-address>")
    out.append(
        f"<speed>{SPEED_BPS}</speed>"
        f"<statistics><discontinuity-time>{boot}</discontinuity-time>"
        f"<in-octets>{p.in_octets}</in-octets><out-octets>{p.out_octets}</out-octets>"
        "<in-errors>0</in-errors><out-errors>0</out-errors></statistics>"
    )
    return "".join(out)


def interfaces(ports: Iterable[PortView], shape: str, sparse: bool, boot: str) -> str:
    """``/interfaces`` of a ``<get>``: with state inside unless the device is ``legacy``."""
    state = shape != LEGACY
    out = [f'<interfaces xmlns="{NS_IF}" xmlns:ianaift="{NS_IANAIFT}">']
    for p in ports:
        # A legacy device's configuration always has the (config-mandatory) type.
        out.append("<interface>" + _config_leaves(p, with_type=not (state and sparse)))
        if state:
            out.append(_state_leaves(p, sparse, boot))
        out.append("</interface>")
    out.append("</interfaces>")
    return "".join(out)


def interfaces_state(ports: Iterable[PortView], sparse: bool, boot: str) -> str:
    """RFC 7223 ``/interfaces-state``."""
    out = [f'<interfaces-state xmlns="{NS_IF}" xmlns:ianaift="{NS_IANAIFT}">']
    for p in ports:
        kind = "" if sparse else "<type>ianaift:ethernetCsmacd</type>"
        out.append(
            f"<interface><name>{escape(p.name)}</name>{kind}"
            f"{_state_leaves(p, sparse, boot)}</interface>"
        )
    out.append("</interfaces-state>")
    return "".join(out)


def config(ports: Iterable[PortView]) -> str:
    """``/interfaces`` of a ``<get-config>``."""
    body = "".join(f"<interface>{_config_leaves(p, True)}</interface>" for p in ports)
    return f'<interfaces xmlns="{NS_IF}" xmlns:ianaift="{NS_IANAIFT}">{body}</interfaces>'


def link_bodies(styles: Iterable[str], p: PortView, up: bool) -> list[str]:
    """The notification bodies announcing that ``p`` went up or down, one per style."""
    out = []
    for style in styles:
        if style == LAB:
            out.append(
                f'<interface-state-change xmlns="{NS_LAB_NOTIF}"><name>{escape(p.name)}</name>'
                f"<if-index>{p.ifindex}</if-index><oper-status>{'up' if up else 'down'}"
                "</oper-status></interface-state-change>"
            )
        elif style == IFNOTIF:
            tag = "link-up" if up else "link-down"
            out.append(f'<{tag} xmlns="{NS_IFNOTIF}"><if-name>{escape(p.name)}</if-name></{tag}>')
        elif style == IF_MIB:
            tag = "linkUp" if up else "linkDown"
            admin = "up" if p.enabled else "down"
            out.append(
                f'<{tag} xmlns="{NS_IF_MIB}"><object-2><ifIndex>{p.ifindex}</ifIndex>'
                f"<ifAdminStatus>{admin}</ifAdminStatus></object-2><object-3>"
                f"<ifIndex>{p.ifindex}</ifIndex><ifOperStatus>{'up' if up else 'down'}"
                f"</ifOperStatus></object-3></{tag}>"
            )
    return out


def config_change(
    user: str, session_id: int, source_host: str | None, edits: Iterable[tuple[str, str]]
) -> str:
    """RFC 6470 netconf-config-change; ``edits`` are (operation, target under /if:)."""
    host = f"<source-host>{escape(source_host)}</source-host>" if source_host else ""
    parts = "".join(
        f"<edit><target xmlns:if={quoteattr(NS_IF)}>{escape(target)}</target>"
        f"<operation>{op}</operation></edit>"
        for op, target in edits
    )
    return (
        f'<netconf-config-change xmlns="{NS_NCN}"><changed-by><username>{escape(user)}'
        f"</username><session-id>{session_id}</session-id>{host}</changed-by>"
        f"<datastore>running</datastore>{parts}</netconf-config-change>"
    )


def if_target(name: str, leaf: str) -> str:
    """Instance identifier of one leaf of one interface (quotes chosen to fit the name)."""
    q = '"' if "'" in name else "'"
    return f"/if:interfaces/if:interface[if:name={q}{name}{q}]/if:{leaf}"
