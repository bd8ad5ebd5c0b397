#!/usr/bin/env bash
# Installs the third-party programs the tests talk to: Dovecot 2.3 (IMAP +
# POP3, LMTP) and Postfix 3.7 as interop peers (crates/test-support/src/{dovecot,postfix}.rs),
# Prometheus and promtool (tests/prometheus.rs), node_exporter for the
# textfile (tests/report.rs), blackbox_exporter (benches/agent.rs compares
# the agent with it), openssl (s_server as a TLS 1.0-only server in
# tests/hostile.rs, s_client in tests/web_config.rs), unshare (util-linux), and
# rpm and systemd-nspawn for the package tests (tests/packaging.rs), and for
# the Windows build and its tests (packaging/build-windows.sh, build-msi.sh,
# tests/windows.rs): mingw-w64, wixl and msitools, and wine64 (64-bit only,
# no recommends: no X, no 32-bit wine), and Node.js with npm (scripts/test
# type-checks the Grafana dashboard against Grafana's schema package), and
# tinyproxy as a real HTTP CONNECT proxy (crates/test-support/src/tinyproxy.rs).
#
# Idempotent, non-interactive, run as root on Debian 12 (bookworm).
# Installs nothing when every required command is already present.
# Never leaves system services running: packages are installed behind a
# temporary /usr/sbin/policy-rc.d that forbids service starts, and the tests
# start their own private instances on high loopback ports.
#
# To add a peer, append "command:package[ package...]" to REQUIRED below
# (command is looked up in PATH, /usr/sbin and /usr/bin, or given as a path).
set -euo pipefail

REQUIRED=(
  "dovecot:dovecot-core dovecot-imapd dovecot-pop3d"
  "doveadm:dovecot-core"
  "/usr/lib/dovecot/imap:dovecot-imapd"
  "/usr/lib/dovecot/pop3:dovecot-pop3d"
  "/usr/lib/dovecot/lmtp:dovecot-lmtpd"
  "/usr/sbin/postfix:postfix"
  "unshare:util-linux"
  "ip:iproute2"
  "/usr/bin/rpm:rpm"
  "/usr/bin/systemd-nspawn:systemd-container"
  "/usr/bin/prometheus:prometheus"
  "/usr/bin/promtool:prometheus"
  "/usr/bin/prometheus-node-exporter:prometheus-node-exporter"
  "openssl:openssl"
  "x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64-posix"
  "/usr/bin/wixl:wixl"
  "/usr/bin/msiinfo:msitools"
  "/usr/bin/msibuild:msitools"
  "/usr/lib/wine/wine64:wine64"
  "/usr/bin/prometheus-blackbox-exporter:prometheus-blackbox-exporter"
  "node:nodejs"
  "npm:npm"
  "/usr/bin/tinyproxy:tinyproxy"
)

have() {
  local cmd="$1"
  if [[ "$cmd" == /* ]]; then
    [[ -x "$cmd" ]]
  else
    PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin" command -v "$cmd" >/dev/null 2>&1
  fi
}

missing_pkgs=()
missing_cmds=()
for entry in "${REQUIRED[@]}"; do
  cmd="${entry%%:*}"
  pkgs="${entry#*:}"
  if ! have "$cmd"; then
    missing_cmds+=("$cmd")
    for p in $pkgs; do
      [[ " ${missing_pkgs[*]-} " == *" $p "* ]] || missing_pkgs+=("$p")
    done
  fi
done

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
  echo "install-test-peers: all test peers already installed, nothing to do"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-peers: missing ${missing_cmds[*]}; run as root to install ${missing_pkgs[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Forbid service starts during installation (exit 101 = action not allowed).
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() {
  if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

if [[ " ${missing_pkgs[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
fi

apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing_pkgs[@]}" >/dev/null

# Belt and braces: if anything did start (e.g. no policy-rc.d honoured in a
# container without init), stop it so ports 25/110/143/993/995 stay free.
for svc in dovecot postfix tinyproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
if [[ -f /run/dovecot/master.pid ]]; then
  kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
if [[ -f /run/tinyproxy/tinyproxy.pid ]]; then
  kill "$(cat /run/tinyproxy/tinyproxy.pid)" 2>/dev/null || true
fi
if [[ -f /var/spool/postfix/pid/master.pid ]]; then
  /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi

echo "install-test-peers: installed ${missing_pkgs[*]} (missing: ${missing_cmds[*]})"
