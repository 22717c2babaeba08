"""The lab's NETCONF simulator as tests drive it: the credentials its test devices take and
ncclient sessions to them (ncclient is the independent client the simulator is judged by)."""

from __future__ import annotations

from ncclient import manager

from lab.netconf.sim import Credentials, ThreadedSimulator

PASSWORD = "lab-password-0123456789"
CREDS = Credentials("emsnc", PASSWORD)


def ncclient_session(ts: ThreadedSimulator, name: str, **kw: object) -> manager.Manager:
    """An ncclient session to device ``name``, its host key pinned, by password."""
    dev = ts.sim.devices[name]
    return manager.connect(
        host=dev.spec.address,
        port=dev.spec.port,
        username=CREDS.user,
        password=PASSWORD,
        hostkey_verify=True,
        hostkey_b64=dev.public_key.split()[1],
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
        **kw,
    )
