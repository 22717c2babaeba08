"""The scale lab's layout: addresses across /24s, devices derived from the settings alone."""

import pytest

from lab.scale import layout
from shared.errors import LabError


def test_addresses_skip_network_and_broadcast_octets():
    addrs = layout.addresses("127.64.0.0", 600)
    assert addrs[0] == "127.64.0.1" and len(set(addrs)) == 600
    assert not any(a.endswith((".0", ".255")) for a in addrs)
    assert "127.64.1.1" in addrs and "127.64.2.1" in addrs


def test_addresses_stay_on_loopback():
    with pytest.raises(LabError):
        layout.addresses("127.255.255.0", 300)
    with pytest.raises(LabError):
        layout.addresses("10.0.0.0", 3)


def test_devices_follow_from_the_settings(tmp_path):
    settings = layout.create(tmp_path, 400, v3_share=0.5)
    first = layout.devices(settings, started=0.0)
    again = layout.devices(layout.load(tmp_path), started=0.0)
    assert [(d.name, d.address, d.engine_id) for d in first] == [
        (d.name, d.address, d.engine_id) for d in again
    ]
    assert sum(d.v3 for d in first) == 200
    assert len({id(d.template) for d in first}) == 2  # ring: one per kind
    assert (tmp_path / "scale.json").stat().st_mode & 0o777 == 0o600
