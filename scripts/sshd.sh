#!/usr/bin/env bash
# A private OpenSSH SFTP server on 127.0.0.1 for tests and demos.
#
#   scripts/sshd.sh start DIR   generate keys and config in DIR, start sshd,
#                               print the port
#   scripts/sshd.sh stop DIR    stop it (its per-connection children first)
#
# DIR gets: host_ed25519 (server key), id_ed25519 (client key, authorized for
# the current user), known_hosts (the server's key for [127.0.0.1]:PORT),
# sshd_config, sshd.pid, port, sshd.log. Point [sftp] at them:
#   host = "127.0.0.1", port = PORT, user = "$(id -un)",
#   key_file = "DIR/id_ed25519", known_hosts = "DIR/known_hosts"
# with absolute remote_dir / archive_dir / failed_dir.
set -euo pipefail

SSHD=/usr/sbin/sshd
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

stop() {
  [ -f "$dir/sshd.pid" ] || { echo "sshd.sh: no sshd.pid in $dir" >&2; return 0; }
  pid=$(cat "$dir/sshd.pid")
  # Per-connection children call setsid() and outlive the listener: stop
  # them first, by pid.
  for child in $(pgrep -P "$pid" || true); do
    kill "$child" 2>/dev/null || true
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/sshd.pid"
}

start() {
  if [ ! -x "$SSHD" ]; then
    echo "sshd.sh: $SSHD is missing: install openssh-server (apt-get install -y openssh-server, or run scripts/install-deps.sh)" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p -m 0755 /run/sshd   # privilege separation directory
  elif [ ! -d /run/sshd ]; then
    echo "sshd.sh: /run/sshd is missing; create it once as root: sudo mkdir -p -m 0755 /run/sshd" >&2
    exit 1
  fi
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "daffron-bridge test host" -f "$dir/host_ed25519"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "daffron-bridge test client" -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
Subsystem sftp internal-sftp
LogLevel INFO
EOF
  stop >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    # Without -D sshd binds, then detaches and writes its PidFile: a port in
    # use fails here with "Cannot bind any address", and we try another.
    if "$SSHD" -f "$dir/sshd_config" -o "Port=$port" -E "$dir/sshd.log" 2>>"$dir/sshd.log"; then
      for _ in $(seq 1 100); do
        [ -s "$dir/sshd.pid" ] && break
        sleep 0.05
      done
      echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
      echo "$port" >"$dir/port"
      echo "$port"
      return 0
    fi
    grep -q "Cannot bind any address" "$dir/sshd.log" || { cat "$dir/sshd.log" >&2; exit 1; }
  done
  echo "sshd.sh: no free port after 20 tries" >&2
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
