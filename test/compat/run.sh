#!/usr/bin/env bash
# Run virt-v2v 2.2.0's own test scripts (test/compat/virt-v2v/tests) against
# our CLI, with a `virt-v2v` first on PATH that runs bin/v2v.js; with
# --control, also against the real /usr/bin/virt-v2v. --jobs N scripts at a
# time (default 1), each in its own scratch dir laid out as virt-v2v's build
# tree, under a timeout; exit status 77 is a skip (as in automake). Prints a
# table, in the order of the list whatever order they end in.
#
#   test/compat/run.sh [--control | --control-only] [--group main|fedora] [--jobs N] [--timeout SECS] [--keep] [SCRIPT...]
#
# SCRIPT: a name from scripts.sh, with or without "test-v2v-" and ".sh"
# (default: all; --group: one of scripts.sh's two groups, as CI runs them,
# two runs side by side). Fedora guests are built only when
# a script that needs one runs. Logs: .cache/compat/logs/SCRIPT.{ours,control}.log; the
# table is also written to .cache/compat/results.txt (results-GROUP.txt). Scratch dirs of
# failed scripts are kept (.cache/compat/run/MODE/SCRIPT; --keep: all).
# Exit status 1 if any script failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$COMPAT_SRC/scripts.sh"

modes=(ours) timeout=${COMPAT_TIMEOUT:-600} keep=0 names=() group= jobs=${COMPAT_JOBS:-1}
while [ $# -gt 0 ]; do
  case $1 in
    --control) modes=(ours control) ;;
    --control-only) modes=(control) ;;
    --timeout) timeout=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --keep) keep=1 ;;
    --group) group=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1") ;;
  esac
  shift
done

scripts=()
case $group in
  '') ;;
  main) scripts=("${COMPAT_MAIN_SCRIPTS[@]}") ;;
  fedora) scripts=("${COMPAT_FEDORA_SCRIPTS[@]}") ;;
  *) echo "run.sh: --group is main or fedora, not '$group'" >&2; exit 2 ;;
esac
if [ -z "$group" ] && [ ${#names[@]} -eq 0 ]; then scripts=("${COMPAT_SCRIPTS[@]}"); fi
for n in "${names[@]}"; do
  found=
  for s in "${COMPAT_SCRIPTS[@]}"; do
    case $s in "$n" | "$n.sh" | "test-v2v-$n" | "test-v2v-$n.sh") found=$s ;; esac
  done
  [ -n "$found" ] || { echo "run.sh: no script $n in test/compat/scripts.sh" >&2; exit 2; }
  scripts+=("$found")
done

COMPAT_FEDORA=no
for s in "${scripts[@]}"; do case $s in *fedora*) COMPAT_FEDORA=yes ;; esac; done
case $jobs in ''|*[!0-9]*|0) echo "run.sh: --jobs wants a number >= 1, not '$jobs'" >&2; exit 2 ;; esac
COMPAT_FEDORA=$COMPAT_FEDORA COMPAT_JOBS=$jobs "$COMPAT_SRC/build.sh"

# The `virt-v2v` each mode puts first on PATH.
mkdir -p "$CACHE/bin-ours" "$CACHE/bin-control" "$CACHE/logs"
# Replaced whole (a rename), never rewritten in place: another run may be
# executing them.
printf '#!/bin/sh\nexec %s %s "$@"\n' "${NODE:-node}" "$REPO_ROOT/bin/v2v.js" > "$CACHE/bin-ours/virt-v2v.$$"
chmod +x "$CACHE/bin-ours/virt-v2v.$$"
mv -f "$CACHE/bin-ours/virt-v2v.$$" "$CACHE/bin-ours/virt-v2v"
ln -sfn /usr/bin/virt-v2v "$CACHE/bin-control/virt-v2v.$$"
mv -fT "$CACHE/bin-control/virt-v2v.$$" "$CACHE/bin-control/virt-v2v"

# run_one MODE SCRIPT: prints "STATUS SECONDS".
run_one() {
  local mode=$1 script=$2 top=$CACHE/run/$1/${2%.sh} log=$CACHE/logs/$2.$1.log rc t0
  rm -rf "$top"
  mkdir -p "$top/tests"
  ln -s "$TREE/test-data" "$top/test-data"
  cp -a "$VENDOR/tests/." "$top/tests/"
  ln -s "$TREE/tests/windows.vmdk" "$top/tests/windows.vmdk"
  for f in "$top"/tests/*.in; do compat_subst "$f" "${f%.in}" "$top" tests; done
  t0=$SECONDS
  set +e
  (cd "$top/tests" && PATH="$CACHE/bin-$mode:$PATH" srcdir=. \
    timeout -k 30 "$timeout" "./$script") </dev/null >"$log" 2>&1
  rc=$?
  set -e
  case $rc in
    0) echo "PASS $((SECONDS - t0))" ;;
    77) echo "SKIP $((SECONDS - t0))" ;;
    124|137) echo "TIMEOUT $((SECONDS - t0))"; echo "run.sh: timed out after $timeout s" >>"$log" ;;
    *) echo "FAIL $((SECONDS - t0))"; echo "run.sh: exit status $rc" >>"$log" ;;
  esac
  if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then [ $keep -eq 1 ] || rm -rf "$top"; fi
}

# Each run writes its "STATUS SECONDS" to $results/SCRIPT.MODE, up to $jobs
# runs at a time; the table is read back from there.
results=$(mktemp -d "$CACHE/results.XXXXXX")
trap 'rm -rf "$results"' EXIT
for s in "${scripts[@]}"; do
  for m in "${modes[@]}"; do
    wait_slot "$jobs" || true
    { r=$(run_one "$m" "$s"); echo "$r" >"$results/$s.$m"; echo "compat: $s [$m]: $r"; } &
  done
done
wait
declare -A result
failed=0
for s in "${scripts[@]}"; do
  for m in "${modes[@]}"; do
    result[$s.$m]=$(cat "$results/$s.$m" 2>/dev/null || echo "FAIL 0")
    case ${result[$s.$m]} in FAIL*|TIMEOUT*) failed=1 ;; esac
  done
done

{
  printf '%-44s' script; for m in "${modes[@]}"; do printf ' | %-12s' "$m"; done; echo
  for s in "${scripts[@]}"; do
    printf '%-44s' "$s"
    for m in "${modes[@]}"; do read -r st secs <<<"${result[$s.$m]}"; printf ' | %-12s' "$st ${secs}s"; done
    echo
  done
  for m in "${modes[@]}"; do
    n=0; p=0
    for s in "${scripts[@]}"; do n=$((n + 1)); case ${result[$s.$m]} in PASS*) p=$((p + 1)) ;; esac; done
    echo "$m: $p/$n pass"
  done
} | tee "$CACHE/results${group:+-$group}.txt"
exit $failed
