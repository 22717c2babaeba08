import pytest

from shared.config import parse_config
from shared.errors import ConfigError
from shared.model import SnmpVersion

GOOD = """
[agent]
node_id = "agent-1"
priority = 200
data_dir = "/tmp/x"

[polling]
interval = 30
timeout = 1.5

[traps]
port = 0

[[profiles]]
name = "lab-v3"
version = "3"
user = "ems"
auth_protocol = "SHA256"
auth_key = "supersecret-auth"
priv_protocol = "aes"
priv_key = "supersecret-priv"
"""


def test_good_config_and_defaults():
    c = parse_config(GOOD)
    assert c.node_id == "agent-1" and c.priority == 200
    assert c.polling.interval == 30.0 and c.polling.retries == 1
    assert c.effective_database_url == "sqlite:////tmp/x/emspool.db"
    (p,) = c.profiles
    assert p.version is SnmpVersion.V3 and p.auth_protocol == "sha256"
    assert "supersecret" not in repr(c)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\n", "agent.node_id: is required"),
        ('[agent]\nnode_id = "a b"\n', "agent.node_id: must be"),
        ('[agent]\nnode_id = "a"\npriority = "high"\n', "agent.priority: expected an integer"),
        ('[agent]\nnode_id = "a"\n[polling]\ninterval = 0\n', "polling.interval: must be between"),
        ('[agent]\nnode_id = "a"\nnodeid = 3\n', "agent: unknown key(s) nodeid"),
        (
            '[agent]\nnode_id = "a"\n[bus]\nrouter = "127.0.0.1:5"\n',
            "bus.router: expected a ZeroMQ",
        ),
        ("[agent\n", "not valid TOML"),
        (
            '[agent]\nnode_id = "a"\n[[profiles]]\nname = "p"\n',
            "profiles[0].community: is required",
        ),
        (
            '[agent]\nnode_id = "a"\n[[profiles]]\nname = "p"\nversion = "3"\nuser = "u"\n'
            'auth_protocol = "sha256"\nauth_key = "short"\n',
            "profiles[0].auth_key: must be at least 8",
        ),
    ],
)
def test_bad_configs_say_where(text, message):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "agent.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("agent.toml: ") or "not valid TOML" in str(e.value)


def test_secret_value_is_never_echoed():
    text = '[agent]\nnode_id = "a"\n[[profiles]]\nname = "p"\ncommunity = 12345678\n'
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    assert "12345678" not in str(e.value) and "<hidden>" in str(e.value)


def test_netconf_profile_needs_no_snmp_version_and_hides_password():
    text = (
        '[agent]\nnode_id = "a"\n[[profiles]]\nname = "nc"\nuser = "ops"\n'
        'password = "very-secret-pw"\n'
    )
    (p,) = parse_config(text).profiles
    assert p.version is SnmpVersion.NONE and p.has_ssh and not p.has_snmp
    assert "very-secret-pw" not in repr(p) and "very-secret-pw" not in str(p.redacted())
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.user: is required"):
        parse_config('[agent]\nnode_id = "a"\n[[profiles]]\nname = "nc"\npassword = "x"\n')


# -- [pool] -------------------------------------------------------------------------------

POOL = '[agent]\nnode_id = "a"\n[pool]\n'


def test_pool_defaults_are_the_documented_timing():
    p = parse_config('[agent]\nnode_id = "a"\n').pool
    assert (p.zones, p.weight, p.capacity, p.seeds) == ((), 1.0, None, ())
    assert (p.heartbeat, p.dead_after, p.preempt_delay) == (0.5, 1.5, 10.0)
    # The master stops acting before the database could give its lease to another.
    assert p.lease_renew < p.lease_hold < p.lease_ttl


def test_pool_settings_are_read():
    p = parse_config(
        POOL + 'zones = ["dc1", "dc-2"]\nweight = 2.5\ncapacity = 500\n'
        'seeds = ["tcp://10.0.0.2:7700"]\nheartbeat = 0.2\ndead_after = 0.8\n'
        "lease_ttl = 3\nlease_hold = 2\nlease_renew = 0.5\npreempt_delay = 0\n"
    ).pool
    assert p.zones == ("dc1", "dc-2") and p.weight == 2.5 and p.capacity == 500
    assert p.seeds == ("tcp://10.0.0.2:7700",) and p.heartbeat == 0.2
    assert (p.lease_ttl, p.lease_hold, p.lease_renew, p.preempt_delay) == (3.0, 2.0, 0.5, 0.0)
    assert parse_config(POOL + "capacity = 0\n").pool.capacity is None  # 0: no limit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('zones = "dc1"\n', "pool.zones: expected a list of strings"),
        ('zones = ["dc 1"]\n', "pool.zones: 'dc 1' is not a zone name"),
        ('zones = ["a", "a"]\n', "pool.zones: lists the same value twice"),
        ('seeds = ["10.0.0.2:7700"]\n', "pool.seeds: expected ZeroMQ endpoints"),
        ("weight = -1\n", "pool.weight: must be between"),
        ("capacity = 1.5\n", "pool.capacity: expected an integer"),
        ("heartbeat = 1\ndead_after = 1.5\n", "pool.dead_after: must be at least twice"),
        ("lease_renew = 1.5\n", "pool.lease_renew: must be shorter than pool.lease_hold"),
        ("lease_ttl = 1.0\n", "pool.lease_hold: must be shorter than pool.lease_ttl"),
        ("leasettl = 3\n", "pool: unknown key(s) leasettl"),
    ],
)
def test_bad_pool_settings_name_the_key(text, message):
    with pytest.raises(ConfigError) as e:
        parse_config(POOL + text, "agent.toml")
    assert message in str(e.value)
