#!/bin/bash
# The conversion's private network (docs/ARCHITECTURE.md, the convert step).
# Not a user command: the convert step runs it inside a fresh network
# namespace, with an argument array,
#
#   unshare --net -- bash netns-run.sh HOSTNS DIR [OPTION]... -- COMMAND [ARG]...
#   (a non-root user: unshare --user --map-root-user --net -- ... --as UID:GID)
#
# virt-v2v-in-place 2.2 reads NBD disks only from a loopback TCP port, which
# in the host's network namespace any local user could reach. Here the only
# network is this namespace's own loopback. The script:
#   - refuses to go on if it is still in the host's namespace (HOSTNS: the
#     inode of the starter's /proc/self/ns/net);
#   - brings lo up;
#   - for each --proxy NAME SOCKET PORT, starts an nbdkit `nbd` proxy on
#     127.0.0.1:PORT in front of the Unix socket SOCKET (the overlay, in the
#     private work dir DIR), pidfile DIR/NAME.pid, stderr DIR/NAME.log,
#     --exit-with-parent, --readonly with --readonly; waits until it listens;
#   - runs COMMAND with this script's stdin/stdout/stderr (its output is the
#     convert step's to parse), as UID:GID again with --as (a nested user
#     namespace: libguestfs keeps its per-user cache and owner checks);
#   - stops the proxies and exits with COMMAND's status.
# --probe instead of `-- COMMAND`: only the namespace check, lo (and --as), exit 0.
# Nothing is written to stdout but COMMAND's output. Killing the process
# group (the convert step's cancel) ends everything: the proxies also die
# with this shell.
set -u
PATH=$PATH:/usr/sbin:/sbin

me=v2v-netns-run
die() {
  echo "$me: error: $*" >&2
  exit 1
}

[[ $# -ge 2 ]] || die "usage: netns-run.sh HOSTNS DIR [--readonly] [--as UID:GID] [--proxy NAME SOCKET PORT]... (--probe | -- COMMAND [ARG]...)"
hostns=$1
dir=$2
shift 2

readonly_=()
as=
probe=
names=()
sockets=()
ports=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --readonly) readonly_=(--readonly); shift ;;
    --as) [[ $# -ge 2 && $2 =~ ^[0-9]+:[0-9]+$ ]] || die "--as needs UID:GID"; as=$2; shift 2 ;;
    --proxy)
      [[ $# -ge 4 && $2 =~ ^[A-Za-z0-9_-]+$ && $4 =~ ^[0-9]+$ ]] || die "--proxy needs NAME SOCKET PORT"
      names+=("$2"); sockets+=("$3"); ports+=("$4"); shift 4 ;;
    --probe) probe=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -n $probe || $# -gt 0 ]] || die "no command"

ns=$(readlink /proc/self/ns/net) || die "cannot read this process's network namespace"
ino=$(stat -L -c %i /proc/self/ns/net) || die "cannot read this process's network namespace"
[[ $ino != "$hostns" ]] || die "not in a private network namespace (still $ns): refusing to listen on TCP"
ip link set lo up || die "cannot bring up lo in $ns"
if [[ -n $probe ]]; then
  [[ -z $as ]] || unshare --user --map-user="${as%%:*}" --map-group="${as##*:}" -- true || die "cannot run as $as again"
  exit 0
fi

pids=()
stop_proxies() {
  [[ ${#pids[@]} -gt 0 ]] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  wait "${pids[@]}" 2>/dev/null
  pids=()
}

for i in "${!names[@]}"; do
  name=${names[$i]}
  rm -f "$dir/$name.pid"
  nbdkit --exit-with-parent --foreground --pidfile "$dir/$name.pid" -i 127.0.0.1 -p "${ports[$i]}" \
    "${readonly_[@]}" nbd socket="${sockets[$i]}" </dev/null >/dev/null 2>"$dir/$name.log" &
  pids+=($!)
done
# Ready when each pidfile holds a whole line (nbdkit writes it once it listens).
for i in "${!names[@]}"; do
  name=${names[$i]}
  for ((t = 0; ; t++)); do
    read -r _ 2>/dev/null <"$dir/$name.pid" && break
    if ! kill -0 "${pids[$i]}" 2>/dev/null || ((t > 1500)); then
      why=$(grep -m1 'error:' "$dir/$name.log" 2>/dev/null | sed 's/^.*error: *//')
      stop_proxies
      die "proxy $name on 127.0.0.1:${ports[$i]} did not start: ${why:-no message}"
    fi
    sleep 0.02
  done
done
listening=()
for i in "${!names[@]}"; do listening+=("${names[$i]}=127.0.0.1:${ports[$i]}"); done
echo "$me: network namespace $ns (only lo), proxies listening: ${listening[*]:-none}" >&2

if [[ -n $as ]]; then
  set -- unshare --user --map-user="${as%%:*}" --map-group="${as##*:}" -- "$@"
fi
"$@"
status=$?
stop_proxies
exit "$status"
