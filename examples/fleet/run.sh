#!/usr/bin/env bash
# A fleet on one machine: starts a private sshd on loopback (its own host key and authorized
# key, a free port), writes an inventory of six host aliases pointing at it, and runs
# rolling-restart.yaml across them with runbook. Prints the transcript's path on the last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
command -v /usr/sbin/sshd >/dev/null || { echo "needs openssh-server (apt-get install openssh-server)" >&2; exit 2; }
cargo build --quiet --locked --bin runbook
runbook="$root/target/debug/runbook"

work="$(mktemp -d "${TMPDIR:-/tmp}/runbook-fleet.XXXXXX")"
chmod 755 "$work"
user="$(id -un)"
# As root, log in as an unprivileged user (root's shell start-up is slow on some machines).
if [[ $(id -u) == 0 ]]; then
  id runbook-ssh >/dev/null 2>&1 || { useradd -m -s /bin/bash runbook-ssh && usermod -p '*' runbook-ssh; }
  user=runbook-ssh
fi
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"; chmod 644 "$work/authorized_keys"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
UsePAM no
PasswordAuthentication no
StrictModes no
MaxStartups 200:30:400
MaxSessions 200
CONF
echo "fleet-demo $(cat "$work/host_key.pub")" > "$work/known_hosts"
mkdir -p /run/sshd 2>/dev/null || true
# Its own session: stopping it stops its connections too; none of our output is held open.
setsid /usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" </dev/null >/dev/null 2>&1 &
sshd=$!
trap 'kill -- -$sshd 2>/dev/null || kill $sshd 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

{
  echo "apiVersion: runbook/v1"
  echo "kind: Inventory"
  echo "hosts:"
  for i in 1 2 3 4 5 6; do
    echo "  web-$i: { address: 127.0.0.1, port: $port, user: $user, ssh_options: [\"UserKnownHostsFile=$work/known_hosts\", \"HostKeyAlias=fleet-demo\", \"IdentityFile=$work/client_key\", \"IdentitiesOnly=yes\", \"StrictHostKeyChecking=yes\"] }"
  done
  echo "groups:"
  echo "  web: [web-1, web-2, web-3, web-4, web-5, web-6]"
} > "$work/inventory.yaml"

log="$work/fleet.log"; touch "$log"; chmod 666 "$log"
transcript="$work/fleet.jsonl"
"$runbook" run --yes "$here/rolling-restart.yaml" -i "$work/inventory.yaml" \
  --var fleet_log="$log" --forks 4 --transcript "$transcript"
echo "==> the fleet log ($log):"
cat "$log"
echo "$transcript"
