#!/usr/bin/env bash
# Installs a .deb under a real systemd and checks the service: it starts as
# its user inside its sandbox, serves /metrics, restarts on upgrade keeping an
# edited config, does not restart-loop on a bad config, and purges cleanly.
#
#   packaging/test-in-systemd.sh target/packages/ece-o365-exporter_<version>-1_<arch>.deb
#
# The machine's own root file system is booted in a throwaway container
# (systemd-nspawn on an overlay whose writes live in memory, private network,
# private mount namespace), so nothing is installed on the machine and the
# machine needs no running systemd. Needs root and systemd-nspawn (Debian
# package systemd-container). Prints the container's log; exit 0 when every
# check passed. tests/packaging.rs runs it.
set -euo pipefail

deb=$(realpath "${1:?usage: $0 PATH.deb}")
[[ -f "$deb" ]] || { echo "test-in-systemd: no such file: $deb" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "test-in-systemd: needs root" >&2; exit 2; }
command -v systemd-nspawn >/dev/null || { echo "test-in-systemd: needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 2; }

work=$(mktemp -d /tmp/ece-o365-exporter-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/in" "$work/out"
cp "$deb" "$work/in/pkg.deb"

cat > "$work/in/ece-pkgtest.target" <<'EOF'
[Unit]
Description=ece-o365-exporter package test
Requires=basic.target
After=basic.target
Wants=ece-pkgtest.service
AllowIsolate=yes
EOF
cat > "$work/in/ece-pkgtest.service" <<'EOF'
[Unit]
Description=ece-o365-exporter package test run
After=basic.target
[Service]
Type=oneshot
ExecStart=/bin/bash /run/ecetest/in/run.sh
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
cat > "$work/in/run.sh" <<'EOF'
# Runs inside the container, as its boot target; writes /run/ecetest/out/log.
exec > /run/ecetest/out/log 2>&1
set -u
unit=ece-o365-exporter.service
failed=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
prop() { systemctl show -p "$1" --value "$unit"; }
http() { # http PATH -> status line and body on stdout
  exec 3<>"/dev/tcp/127.0.0.1/9865" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: test\r\n\r\n' "$1" >&3
  cat <&3
  exec 3<&-
}
wait_ready() {
  for _ in $(seq 1 150); do
    http /-/ready 2>/dev/null | head -1 | grep -q ' 200 ' && return 0
    sleep 0.2
  done
  return 1
}
finish() {
  echo "--- journal of $unit"
  journalctl -u "$unit" --no-pager -o short-monotonic | tail -40
  if [ "$failed" -eq 0 ]; then echo PASS; else echo FAILED; fi
  exit 0
}

export DEBIAN_FRONTEND=noninteractive
rm -f /usr/sbin/policy-rc.d   # a leftover would forbid the start (this is the container's copy)
dpkg -i /run/ecetest/in/pkg.deb || { fail "dpkg -i"; finish; }

# Installed: enabled and started by postinst.
[ "$(systemctl is-enabled "$unit")" = enabled ] && ok "enabled on install" || fail "not enabled on install"
wait_ready && ok "started on install and ready" || fail "not ready: $(prop ActiveState)/$(prop SubState)"
pid=$(prop MainPID)
[ "$(ps -o user= -p "$pid")" = ece-o365-exporter ] && ok "runs as ece-o365-exporter" || fail "runs as $(ps -o user= -p "$pid")"
status=$(cat "/proc/$pid/status")
for want in 'CapEff:	0000000000000000' 'CapBnd:	0000000000000000' 'NoNewPrivs:	1' 'Seccomp:	2'; do
  grep -qF "$want" <<<"$status" && ok "$want" || fail "no $want in /proc/$pid/status"
done
metrics=$(http /metrics)
head -1 <<<"$metrics" | grep -q ' 200 ' && ok "/metrics 200" || fail "/metrics: $(head -1 <<<"$metrics")"
n=$(grep -c '^ece_o365_check_success{' <<<"$metrics")
[ "$n" -ge 1 ] && ok "$n ece_o365_check_success series" || fail "no ece_o365_check_success series"
nsenter -t "$pid" -m -- sh -c 'touch /etc/ece-o365-exporter/x' 2>/dev/null && fail "/etc writable in the sandbox" || ok "/etc read-only in the sandbox"
nsenter -t "$pid" -m -- sh -c 'touch /var/lib/ece-o365-exporter/x && rm /var/lib/ece-o365-exporter/x' && ok "state directory writable in the sandbox" || fail "state directory not writable"
[ "$(stat -c '%U %a' /var/lib/ece-o365-exporter)" = "ece-o365-exporter 700" ] && ok "state directory owner and mode" || fail "state directory: $(stat -c '%U %a' /var/lib/ece-o365-exporter)"

# Upgrade (same .deb again): the edited config stays, the service restarts.
echo "# edited by test-in-systemd.sh" >> /etc/ece-o365-exporter/config.yaml
dpkg -i /run/ecetest/in/pkg.deb || fail "dpkg -i (upgrade)"
[ "$(tail -1 /etc/ece-o365-exporter/config.yaml)" = "# edited by test-in-systemd.sh" ] && ok "edited config kept on upgrade" || fail "edited config lost on upgrade"
wait_ready && [ "$(prop MainPID)" != "$pid" ] && ok "restarted on upgrade" || fail "not restarted on upgrade ($pid -> $(prop MainPID))"

# A client secret kept as an encrypted systemd credential (the host key; a
# TPM where there is one): the config names it through ${CREDENTIALS_DIRECTORY},
# systemd decrypts it for the service alone, and nothing readable is on disk.
printf 'canary-credential-secret' | systemd-creds encrypt --name=client-secret --with-key=host - /etc/ece-o365-exporter/client-secret.cred \
  && ok "credential encrypted" || fail "systemd-creds encrypt"
grep -q canary-credential-secret /etc/ece-o365-exporter/client-secret.cred && fail "the credential file holds the secret in clear" || ok "the credential file is encrypted"
mkdir -p "/etc/systemd/system/$unit.d"
printf '[Service]\nLoadCredentialEncrypted=client-secret:/etc/ece-o365-exporter/client-secret.cred\n' > "/etc/systemd/system/$unit.d/credential.conf"
cat >> /etc/ece-o365-exporter/config.yaml <<'YAML'
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:${CREDENTIALS_DIRECTORY}/client-secret
YAML
systemctl daemon-reload
pid=$(prop MainPID)
systemctl restart "$unit"
wait_ready && [ "$(prop MainPID)" != "$pid" ] && ok "started with the client secret from an encrypted credential" \
  || fail "not ready with the credential: $(prop ActiveState)/$(prop SubState)/$(prop ExecMainStatus)"
http /metrics | grep -q '^ece_o365_config_last_reload_successful 1' && ok "configuration with the credential loaded" \
  || fail "configuration with the credential not loaded"
journalctl -u "$unit" --no-pager | grep -q canary-credential-secret && fail "the secret is in the journal" || ok "the secret is not in the journal"
# From a shell there is no CREDENTIALS_DIRECTORY: the check says so.
out=$(ece-o365-exporter config check --config.file /etc/ece-o365-exporter/config.yaml 2>&1)
[ $? -eq 2 ] && grep -q 'CREDENTIALS_DIRECTORY is not set' <<<"$out" && ok "config check outside the service names CREDENTIALS_DIRECTORY" \
  || fail "config check outside the service: $out"

# A bad config: exit 2 and no restart loop (RestartPreventExitStatus=2).
echo "bogus: [" >> /etc/ece-o365-exporter/config.yaml
systemctl restart "$unit"
sleep 7   # longer than RestartSec=5s
[ "$(prop ActiveState)/$(prop ExecMainStatus)/$(prop NRestarts)" = "failed/2/0" ] && ok "bad config: failed, exit 2, no restart" \
  || fail "bad config: $(prop ActiveState)/$(prop ExecMainStatus)/$(prop NRestarts)"

# Purge: stopped, unit and files gone (the credential and the drop-in are the
# admin's own files, removed first as an admin would).
rm -rf /etc/ece-o365-exporter/client-secret.cred "/etc/systemd/system/$unit.d"
dpkg --purge ece-o365-exporter || fail "dpkg --purge"
[ "$(prop LoadState)" = not-found ] && ok "unit gone after purge" || fail "unit still loaded after purge"
for gone in /etc/ece-o365-exporter /var/lib/ece-o365-exporter /usr/bin/ece-o365-exporter; do
  [ ! -e "$gone" ] && ok "$gone gone after purge" || fail "$gone still there after purge"
done
finish
EOF

# The machine's root, read-only below an in-memory overlay, in a private mount
# namespace; nspawn's own state under /run on a tmpfs (the machine's /run may be on disk).
timeout 300 unshare --mount --propagation private bash -c '
set -e
work=$1
mkdir -p /run/systemd/nspawn "$work/ovl" "$work/root"
mount -t tmpfs tmpfs /run/systemd/nspawn
mount -t tmpfs tmpfs "$work/ovl"
mkdir "$work/ovl/up" "$work/ovl/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/ovl/up,workdir=$work/ovl/work" "$work/root"
exec systemd-nspawn --quiet --directory="$work/root" --private-network --register=no --keep-unit --link-journal=no \
  --machine=ece-pkgtest --bind-ro="$work/in:/run/ecetest/in" --bind="$work/out:/run/ecetest/out" \
  --bind-ro="$work/in/ece-pkgtest.target:/etc/systemd/system/ece-pkgtest.target" \
  --bind-ro="$work/in/ece-pkgtest.service:/etc/systemd/system/ece-pkgtest.service" \
  --boot -- systemd.unit=ece-pkgtest.target
' _ "$work" > "$work/console" 2>&1 || { echo "test-in-systemd: the container failed:"; tail -40 "$work/console"; }

if [[ ! -f "$work/out/log" ]]; then
  echo "test-in-systemd: the container wrote no log; its console:"
  tail -60 "$work/console"
  exit 1
fi
cat "$work/out/log"
tail -1 "$work/out/log" | grep -qx PASS
