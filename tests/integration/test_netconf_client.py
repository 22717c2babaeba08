"""The NETCONF adapter against a real asyncssh NETCONF server on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import threading
import time
from typing import Any

import pytest

from agent.netconf import (
    HostileXmlError,
    HostKeyError,
    NetconfAuthError,
    NetconfClient,
    NetconfTarget,
    NetconfTimeout,
)
from agent.netconf.poller import NetconfPoller, NetconfPollTarget
from shared import nodal_netconf, yang
from shared.config import PollingConfig
from shared.model import AlarmKey, Event, NetworkElement, Protocol, Severity
from shared.nodal import NodalModel, Policy
from tests.helpers.ncserver import NcServer
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def srv():
    s = await NcServer().start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def client():
    c = NetconfClient(workers=4)
    try:
        yield c
    finally:
        await c.aclose()


def target(s: NcServer, **kw: Any) -> NetconfTarget:
    base = NetconfTarget(
        "127.0.0.1", s.port, "emsnc", s.password, host_key=s.host_key_line, timeout=2.0
    )
    return dataclasses.replace(base, **kw)


def rss_hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


async def pool_is_free(c: NetconfClient, n: int, within: float) -> bool:
    """True when n workers of the client's pool can all run at once (none is stuck)."""
    barrier = threading.Barrier(n, timeout=within)
    loop = asyncio.get_running_loop()

    def meet() -> bool:
        try:
            barrier.wait()
            return True
        except threading.BrokenBarrierError:
            return False

    res = await asyncio.gather(*(loop.run_in_executor(c._pool, meet) for _ in range(n)))
    return all(res)


async def test_pinned_key_password_get_and_mapping(srv, client):
    t = target(srv)
    await client.connect(t)
    caps = await client.capabilities(t)
    assert "urn:ietf:params:netconf:capability:notification:1.0" in caps
    data = await client.get(t, yang.POLL_FILTER)
    r = yang.poll_result("rtr001", data, time.time())
    assert len(r.interfaces) == 24 and r.sys_name == "rtr001"
    assert sum(i.admin_up for i in r.interfaces.values()) == 12
    assert r.interfaces[3].name == "ge-0/0/3" and r.interfaces[3].in_octets == 3000
    assert r.sys_uptime == 3600 * 100
    assert r.neighbours and r.neighbours[0].remote_name == "rtr002"
    cfg = await client.get_config(t)
    assert len(cfg.findall(f"{{{yang.IF_NS}}}interfaces/{{{yang.IF_NS}}}interface")) == 24


async def test_key_auth_and_wrong_password(srv, client, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_bytes(srv.client_key.export_private_key())
    key.chmod(0o600)
    await client.connect(target(srv, password="", key_file=str(key)))
    bad = target(srv, port=srv.port, password="not-the-password-0123456789")
    # a different port would be a different NE; reuse the NE with another target object
    with pytest.raises(NetconfAuthError) as ei:
        await client.connect(bad)
    assert "not-the-password" not in str(ei.value) and "not-the-password" not in repr(bad)
    assert srv.password not in repr(target(srv))


def ssh_keygen_fingerprint(public_line: str, tmp_path) -> str:
    """What OpenSSH's own ssh-keygen -l prints as the key's fingerprint."""
    path = tmp_path / f"key{len(list(tmp_path.iterdir()))}.pub"
    path.write_text(public_line.strip() + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return out.split()[1]


async def test_changed_host_key_refused_before_auth(srv, client, tmp_path):
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with pytest.raises(HostKeyError) as ei:
        await client.connect(target(srv, host_key=other))
    assert srv.auth_attempts == 0 and srv.rpcs == 0
    # Fingerprints as ssh-keygen -l shows them, of the key presented and the one expected;
    # never a key itself.
    msg = str(ei.value)
    presented = ssh_keygen_fingerprint(srv.host_key_line, tmp_path)
    expected = ssh_keygen_fingerprint(other, tmp_path)
    assert presented.startswith("SHA256:") and not presented.endswith("=")
    assert f"host key {presented} (ssh-ed25519)" in msg and f"expected {expected}" in msg
    assert srv.host_key_line.split()[1] not in msg and other.split()[1] not in msg
    # known_hosts: listed -> OK; not listed -> refused without even connecting
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{srv.port} {srv.host_key_line}\n")
    await client.connect(target(srv, host_key=None, known_hosts=str(kh)))
    assert srv.auth_attempts == 1
    kh.write_text(f"[127.0.0.9]:{srv.port} {srv.host_key_line}\n")
    c2 = NetconfClient(workers=1)
    try:
        with pytest.raises(HostKeyError, match="not in known_hosts"):
            await c2.connect(target(srv, host_key=None, known_hosts=str(kh)))
    finally:
        await c2.aclose()
    assert srv.auth_attempts == 1


async def test_subscription_callback_within_a_second(srv, client):
    t = target(srv)
    got: list[yang.Notification] = []
    await client.subscribe(t, got.append)
    t0 = time.monotonic()
    srv.set_link("ge-0/0/3", False)
    srv.raise_alarm("ge-0/0/5", "lab:fan-failure", "critical", "fan 2 failed")
    await eventually(lambda: len(got) >= 2, 1.0, "two notifications")
    assert time.monotonic() - t0 < 1.0
    assert isinstance(got[0], yang.InterfaceChange) and not got[0].oper_up
    assert isinstance(got[1], yang.AlarmNotification)
    assert got[1].alarm.alarm_type == "fan-failure" and got[1].alarm.severity is Severity.CRITICAL


async def test_silent_device_times_out_and_frees_worker_while_others_poll(srv):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP (kernel backlog), never says a word
    client = NetconfClient(workers=2)
    try:
        good = target(srv)
        await client.connect(good)
        dead = NetconfTarget(
            "127.0.0.1",
            silent.getsockname()[1],
            "emsnc",
            "x" * 16,
            host_key=srv.host_key_line,
            timeout=1.0,
        )
        latencies: list[float] = []
        stop = asyncio.Event()

        async def keep_polling() -> None:
            while not stop.is_set():
                t0 = time.monotonic()
                await client.get(good, yang.POLL_FILTER)
                latencies.append(time.monotonic() - t0)
                await asyncio.sleep(0.05)

        poller = asyncio.create_task(keep_polling())
        t0 = time.monotonic()
        with pytest.raises(NetconfTimeout):
            await client.connect(dead)
        took = time.monotonic() - t0
        assert took <= 1.0 + 1.0
        assert await pool_is_free(client, 2, within=1.0)
        stop.set()
        await poller
        assert len(latencies) >= 10 and max(latencies) < 0.5
    finally:
        silent.close()
        await client.aclose()


async def test_hanging_rpc_times_out_and_frees_worker(srv):
    client = NetconfClient(workers=1)
    try:
        t = target(srv, timeout=1.0)
        await client.connect(t)
        srv.mode = "hang"
        t0 = time.monotonic()
        with pytest.raises(NetconfTimeout):
            await client.get(t)
        assert time.monotonic() - t0 <= 2.0
        assert await pool_is_free(client, 1, within=1.0)
        srv.mode = "normal"
        await client.get(t)  # a fresh session answers again
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", ["laughs", "xxe-file", "xxe-fifo", "deep", "huge"])
async def test_hostile_xml_rejected(srv, client, tmp_path, mode):
    secret = f"SECRET-{os.getpid()}-{time.time_ns()}"
    opened = threading.Event()
    stop = threading.Event()
    if mode == "xxe-file":
        f = tmp_path / "secret.txt"
        f.write_text(secret)
        srv.mode = f"xxe:{f}"
    elif mode == "xxe-fifo":
        # A reader opening the FIFO is the only way a non-blocking writer open succeeds.
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        srv.mode = f"xxe:{fifo}"

        def watch() -> None:
            while not stop.is_set():
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    time.sleep(0.002)
                    continue
                opened.set()
                os.close(fd)
                return

        threading.Thread(target=watch, daemon=True).start()
    else:
        srv.mode = mode
    before = rss_hwm_kb()
    t = target(srv, timeout=10.0)
    try:
        with pytest.raises(HostileXmlError) as ei:
            await client.get(t)
    finally:
        stop.set()
    assert secret not in str(ei.value)
    assert not opened.is_set()
    assert rss_hwm_kb() - before < 100 * 1024
    assert any(w in str(ei.value) for w in ("DOCTYPE", "deep", "cap")), str(ei.value)


async def test_malformed_standard_notifications_counted_session_kept(srv, client):
    t = target(srv)
    got: list[yang.Notification] = []
    await client.subscribe(t, got.append)
    head = f'<notification xmlns="{yang.NOTIF_NS}"><eventTime>2024-01-01T00:00:00Z</eventTime>'
    srv.push_raw(f'{head}<link-down xmlns="{yang.IFNOTIF_NS}"/></notification>')
    srv.push_raw(
        f'{head}<linkDown xmlns="{yang.IF_MIB_NS}"><object-3><ifOperStatus>down'
        "</ifOperStatus></object-3></linkDown></notification>"
    )
    srv.push_raw(
        f'{head}<link-up xmlns="{yang.IFNOTIF_NS}"><if-name>ge-0/0/1</if-name></link-up>'
        "</notification>"
    )
    await eventually(lambda: got, 2.0, "the well-formed one after two malformed")
    assert client.malformed_notifications(t) == 2 and client.is_connected(t)
    assert got == [yang.InterfaceChange(got[0].time, "ge-0/0/1", None, True)]


async def test_malformed_notifications_counted_session_kept(srv, client):
    t = target(srv)
    got: list[yang.Notification] = []
    await client.subscribe(t, got.append)
    session = client._conns[t.key].session
    srv.push_raw(f'<notification xmlns="{yang.NOTIF_NS}"><eventTime>bad')  # not well-formed
    srv.push_raw(
        f'<notification xmlns="{yang.NOTIF_NS}"><eventTime>2024-05-01T10:00:00Z</eventTime>'
        f'<alarm-notification xmlns="{yang.AL_NS}"><resource>x</resource></alarm-notification></notification>'
    )
    srv.set_link("ge-0/0/2", False)
    await eventually(lambda: len(got) == 1, 1.0, "the good notification")
    await eventually(lambda: client.malformed_notifications(t) == 2, 1.0, "two malformed counted")
    assert client._conns[t.key].session is session and client.is_connected(t)
    await client.get(t)


def _poller(client: NetconfClient, events: list[Event]) -> tuple[NodalModel, NetconfPoller]:
    # Ports the tests take down before the first poll are alarmed although never seen up.
    model = NodalModel("agent-test", Policy(alarm_never_up_ports=True))
    model.add_ne("rtr001")  # the NE the poller tests manage
    cfg = PollingConfig(interval=60.0, timeout=2.0, concurrency=10)
    return model, NetconfPoller(client, model, events.extend, cfg)


def _ne(name: str, s: NcServer) -> NetworkElement:
    return NetworkElement(name, "127.0.0.1", s.port, protocols=frozenset({Protocol.NETCONF}))


async def test_poller_reconnects_resubscribes_and_rereads_alarms(srv, client):
    events: list[Event] = []
    model, poller = _poller(client, events)
    srv.raise_alarm("ge-0/0/1", "lab:high-temperature", "minor", "hot")
    srv.set_link("ge-0/0/4", False)
    try:
        poller.set_targets({"rtr001": NetconfPollTarget(_ne("rtr001", srv), target(srv))})
        await eventually(lambda: len(model.alarms.active("rtr001")) == 2, 15.0, "first poll")
        keys = {a.key for a in model.alarms.active("rtr001")}
        assert AlarmKey("rtr001", "ifIndex=1", "high-temperature") in keys
        assert AlarmKey("rtr001", "ifIndex=4", "link-down") in keys
        await eventually(lambda: poller._nes["rtr001"].subscribed, 2.0, "subscription")
        # Session dropped; meanwhile the device raises an alarm nobody is told about.
        srv.drop_sessions()
        srv.raise_alarm("ge-0/0/2", "lab:fan-failure", "critical", "fan")
        key = AlarmKey("rtr001", "ifIndex=2", "fan-failure")
        await eventually(
            lambda: model.alarms.get(key) is not None, 5.0, "alarm re-read after reconnect"
        )
        assert poller.stats["resubscribed"] == 1
        # The re-established subscription delivers live changes again.
        t0 = time.monotonic()
        srv.set_link("ge-0/0/5", False)
        k5 = AlarmKey("rtr001", "ifIndex=5", "link-down")
        await eventually(
            lambda: model.alarms.get(k5) is not None, 1.0, "link-down via notification"
        )
        assert time.monotonic() - t0 < 1.0
        srv.set_link("ge-0/0/5", True)
        await eventually(
            lambda: not getattr(model.alarms.get(k5), "active", True), 1.0, "clear via notification"
        )
    finally:
        await poller.close()


async def test_poller_host_key_mismatch_raises_alarm_sends_nothing(srv, client, tmp_path):
    import asyncssh

    events: list[Event] = []
    model, poller = _poller(client, events)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    pt = NetconfPollTarget(_ne("rtr001", srv), target(srv))
    sched = poller._new_schedule(pt)
    poller._nes["rtr001"] = sched
    try:
        await poller.poll_once(sched)  # a good poll first: the NE was reachable
        assert model.states["rtr001"].reachable is True
        auth, rpcs = srv.auth_attempts, srv.rpcs
        client2 = NetconfClient(workers=1)  # a fresh session: the host key is checked again
        poller.client = client2
        try:
            bad = poller._new_schedule(NetconfPollTarget(pt.ne, target(srv, host_key=other)))
            await poller.poll_once(bad)
        finally:
            await client2.aclose()
        key = AlarmKey("rtr001", "", nodal_netconf.HOST_KEY_MISMATCH)
        alarm = model.alarms.get(key)
        assert alarm is not None and alarm.severity is Severity.CRITICAL
        assert (srv.auth_attempts, srv.rpcs) == (auth, rpcs)  # nothing sent to the NE
        assert ssh_keygen_fingerprint(srv.host_key_line, tmp_path) in alarm.text
        assert srv.host_key_line.split()[1] not in alarm.text
        st = model.states["rtr001"]
        assert st.reachable is False and st.summary()["reachable"] is False
    finally:
        poller.client = client
        await poller.close()
