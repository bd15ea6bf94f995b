#!/usr/bin/env bash
# Why did a compat script fail? Prints, from .cache/compat/logs/SCRIPT.MODE.log,
# the last lines before the script failed (its trace and output).
#   test/compat/why.sh [--control] [SCRIPT...]   (default: every failed one)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mode=ours
[ "${1:-}" = --control ] && { mode=control; shift; }
logs=()
for n in "$@"; do
  n=${n%.sh}; [[ $n == test-v2v-* || $n == rhbz* ]] || n=test-v2v-$n
  logs+=("$CACHE/logs/$n.sh.$mode.log")
done
[ ${#logs[@]} -gt 0 ] || mapfile -t logs < <(grep -l '^run.sh: \(exit status\|timed out\)' "$CACHE"/logs/*."$mode".log 2>/dev/null)
for log in "${logs[@]}"; do
  echo "== $(basename "$log")"
  # The last lines before the cleanup hooks ("+ cmd" is the shell's trace).
  awk '/^\+\+? _run_cleanup_hooks/ { exit } !/^\+\+/ { l[n++] = $0 }
       END { for (i = (n > 20 ? n - 20 : 0); i < n; i++) print "  " l[i] }' "$log"
  grep -h '^run.sh: ' "$log" || true
done
