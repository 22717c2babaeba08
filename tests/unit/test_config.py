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
