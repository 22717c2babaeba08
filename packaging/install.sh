#!/usr/bin/env bash
# Install an emspool agent on a management server (as root): a system user, directories,
# a virtualenv with emspool, the systemd unit, a default config with every option commented
# and a pool secrets key. Idempotent: an existing config or key is never overwritten, so
# running it again with a newer --wheel is the upgrade.
#
#   packaging/install.sh [--wheel FILE.whl | --source DIR] [--node-id NAME]
#                        [--prefix /opt/emspool] [--etc /etc/emspool] [--state /var/lib/emspool]
#                        [--user emspool] [--unit-dir /etc/systemd/system] [--no-start]
#
# Uninstall: packaging/uninstall.sh (keeps config and data unless --purge).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(dirname "$here")
wheel=""
node_id=$(hostname -s 2>/dev/null || echo agent-1)
prefix=/opt/emspool
etc=/etc/emspool
state=/var/lib/emspool
user=emspool
unit_dir=/etc/systemd/system
start=1
# The service user runs this interpreter: the system's, not one under root's home (pyenv).
python=${PYTHON:-/usr/bin/python3}

die() { echo "install: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel=$2; shift 2 ;;
    --source) source_dir=$2; shift 2 ;;
    --node-id) node_id=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --etc) etc=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --unit-dir) unit_dir=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (it creates a system user and a systemd unit)"
[ -x "$python" ] || python=$(command -v python3) || die "no python3 (apt-get install python3)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$python is older than 3.11"
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
[[ "$node_id" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]] || die "bad --node-id $node_id"

# 1. The service user: no login, no home outside the state directory.
if ! getent group "$user" >/dev/null; then groupadd --system "$user"; fi
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --gid "$user" --home-dir "$state" --no-create-home \
    --shell /usr/sbin/nologin --comment "emspool agent" "$user"
fi

# 2. Directories: code owned by root, config readable by the service, state its own.
install -d -m 0755 "$prefix" "$prefix/share"
install -d -m 0750 -o root -g "$user" "$etc"
install -d -m 0750 -o "$user" -g "$user" "$state"

# 3. The virtualenv (agent with PostgreSQL and NETCONF support; no Qt on a server).
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
target=${wheel:-$source_dir}
[ -e "$target" ] || die "nothing to install at $target"
"$prefix/venv/bin/python" -m pip install -q --upgrade pip
"$prefix/venv/bin/python" -m pip install -q --upgrade "emspool[postgres,netconf] @ file://$(realpath "$target")"
install -m 0644 "$source_dir/README.md" "$prefix/share/README.md" 2>/dev/null || true
[ -d "$source_dir/docs" ] && cp -r "$source_dir/docs" "$prefix/share/"

# 4. Config with every option commented out (never overwritten: upgrades keep it).
config="$etc/agent.toml"
if [ ! -e "$config" ]; then
  "$prefix/venv/bin/emspool-agent" --default-config "$node_id" \
    | sed -e "s|^# data_dir = .*|data_dir = \"$state\"|" \
          -e "/^\[secrets\]/,/^\[/ s|^# key_file = .*|key_file = \"$etc/pool-secrets.key\"|" \
    > "$config.new"
  chown root:"$user" "$config.new"
  chmod 0640 "$config.new"
  mv "$config.new" "$config"
  echo "install: wrote $config (node $node_id)"
fi

# 5. The pool secrets key (credentials at rest): readable by the service user only.
# Every agent of a pool needs the same key: copy this file to the other hosts.
key="$etc/pool-secrets.key"
if [ ! -e "$key" ]; then
  "$prefix/venv/bin/python" -c 'import sys; from agent.secretbox import SecretBox; SecretBox.create(sys.argv[1])' "$key"
  echo "install: created $key (copy it to every agent of the pool; keep a copy off-host)"
fi
chown "$user:$user" "$key"
chmod 0600 "$key"

# 6. The systemd unit, with this install's paths and user.
install -d -m 0755 "$unit_dir"
sed -e "s|/opt/emspool|$prefix|g" -e "s|/etc/emspool/agent.toml|$config|g" \
    -e "s|^User=.*|User=$user|" -e "s|^Group=.*|Group=$user|" \
    -e "s|^WorkingDirectory=.*|WorkingDirectory=$state|" \
    "$here/emspool-agent.service" > "$unit_dir/emspool-agent.service"
chmod 0644 "$unit_dir/emspool-agent.service"

# 7. Check the config as the service user will read it.
if command -v runuser >/dev/null; then
  runuser -u "$user" -- "$prefix/venv/bin/emspool-agent" --check-config "$config"
else
  "$prefix/venv/bin/emspool-agent" --check-config "$config"
fi

# 8. Enable and start where systemd runs (not in a container without it).
if [ -d /run/systemd/system ] && [ "$unit_dir" = /etc/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable emspool-agent.service
  [ "$start" -eq 1 ] && systemctl restart emspool-agent.service
  echo "install: emspool-agent enabled; journalctl -u emspool-agent to follow it"
else
  echo "install: unit written to $unit_dir (systemd not running here: not enabled)"
fi
