#!/usr/bin/env bash
# Remove an emspool agent installed by packaging/install.sh (as root). The config, the pool
# secrets key and the agent's data (outbox, SQLite database) are kept unless --purge.
#
#   packaging/uninstall.sh [--purge] [--prefix /opt/emspool] [--etc /etc/emspool]
#                          [--state /var/lib/emspool] [--user emspool] [--unit-dir /etc/systemd/system]
set -euo pipefail

purge=0
prefix=/opt/emspool
etc=/etc/emspool
state=/var/lib/emspool
user=emspool
unit_dir=/etc/systemd/system
die() { echo "uninstall: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    --prefix) prefix=$2; shift 2 ;;
    --etc) etc=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --unit-dir) unit_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -n "$prefix" ] && [ "$prefix" != / ] || die "refusing --prefix '$prefix'"

if [ -d /run/systemd/system ] && [ "$unit_dir" = /etc/systemd/system ]; then
  # Stopping flushes the agent's outbox to the database first (SIGTERM).
  systemctl disable --now emspool-agent.service 2>/dev/null || true
fi
rm -f "$unit_dir/emspool-agent.service"
[ -d /run/systemd/system ] && systemctl daemon-reload 2>/dev/null || true
rm -rf "$prefix"
if [ "$purge" -eq 1 ]; then
  rm -rf "$etc" "$state"
  if id -u "$user" >/dev/null 2>&1; then userdel "$user"; fi
  if getent group "$user" >/dev/null; then groupdel "$user" 2>/dev/null || true; fi
  echo "uninstall: removed everything, config and data included"
else
  echo "uninstall: removed the program and unit; kept $etc and $state (--purge removes them)"
fi
