# Phase timing for scripts/setup.sh and .ci/run (sourced, bash).
#
#   phase NAME CMD [ARGS...]
#
# runs CMD (a command or a shell function), then prints on stderr
#
#   PREFIX: phase NAME took N s                 (or: ... took N s, FAILED (exit S))
#
# and returns CMD's exit status. PREFIX is $PHASE_PREFIX (set by the caller:
# "setup", or "ci" under .ci/run, which exports it to setup.sh). When
# $PHASE_LOG names a file, a line "NAME SECONDS STATUS" is appended to it, so
# that .ci/run can print a table of every phase, setup.sh's inner ones too.
#
# CMD runs in a subshell with errexit on, so a shell function given as CMD
# stops at its first failing command, as it would under `set -e` outside
# phase (bash ignores -e inside a function called as `f || ...`). Variables
# it sets do not reach the caller. Call phase as a plain command (not in
# `if`, `&&`, `||`) when CMD is a function: bash ignores -e in there too.

phase() {
  local name=$1
  shift
  local start=$SECONDS rc=0 errexit=0
  [[ $- == *e* ]] && errexit=1
  PHASE_RUNNING="$name $start"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  ((errexit)) && set -e
  PHASE_RUNNING=
  local took=$((SECONDS - start)) failed=""
  [ "$rc" -eq 0 ] || failed=", FAILED (exit $rc)"
  echo "${PHASE_PREFIX:-phase}: phase $name took $took s$failed" >&2
  [ -z "${PHASE_LOG:-}" ] || printf '%s %s %s\n' "$name" "$took" "$rc" >>"$PHASE_LOG"
  return "$rc"
}

# phase_summary: the table of every phase in $PHASE_LOG, in the order they
# ended (inner phases before the phase that ran them), and the phase of this
# shell still running if any (the script is exiting from a signal), on stderr.
phase_summary() {
  local p=${PHASE_PREFIX:-phase} name took rc
  {
    echo "$p: phase summary (seconds)"
    printf '%s:   %-22s %7s  %s\n' "$p" PHASE SECONDS STATUS
    if [ -n "${PHASE_LOG:-}" ] && [ -f "$PHASE_LOG" ]; then
      while read -r name took rc; do
        if [ "$rc" -eq 0 ]; then rc=ok; else rc="FAILED (exit $rc)"; fi
        printf '%s:   %-22s %7s  %s\n' "$p" "$name" "$took" "$rc"
      done <"$PHASE_LOG"
    fi
    if [ -n "${PHASE_RUNNING:-}" ]; then
      read -r name took <<<"$PHASE_RUNNING"
      printf '%s:   %-22s %7s  %s\n' "$p" "$name" "$((SECONDS - took))" "interrupted"
    fi
  } >&2
}
