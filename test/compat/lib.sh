# Shared by build.sh and run.sh: where things are, and configure's @VAR@
# substitution. Sourced; expects bash.
# shellcheck disable=SC2034
COMPAT_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)      # test/compat
REPO_ROOT=$(cd "$COMPAT_SRC/../.." && pwd)
VENDOR=$COMPAT_SRC/virt-v2v                                      # the vendored copy
CACHE=${COMPAT_CACHE:-$REPO_ROOT/.cache/compat}
TREE=$CACHE/tree          # built test data: $TREE/test-data, $TREE/tests/windows.vmdk
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
# As virt-v2v's ./run does: a private libguestfs tmp and appliance cache.
export LIBGUESTFS_TMPDIR=$CACHE/tmp LIBGUESTFS_CACHEDIR=$CACHE/tmp

# first_prog NAME... : the first NAME on PATH, or "no" (AC_CHECK_PROGS).
first_prog() {
  local p
  for p in "$@"; do command -v "$p" >/dev/null && { echo "$p"; return; }; done
  echo no
}

# compat_subst IN OUT TOP_BUILDDIR SUBDIR: what configure does to IN (a *.in
# file) for an in-tree build whose root is TOP_BUILDDIR, IN's directory being
# TOP_BUILDDIR/SUBDIR.
compat_subst() {
  local in=$1 out=$2 top=$3 sub=$4
  sed -e "s|@abs_top_builddir@|$top|g" -e "s|@abs_top_srcdir@|$top|g" \
      -e "s|@abs_builddir@|$top/$sub|g" -e "s|@abs_srcdir@|$top/$sub|g" \
      -e "s|@OCAMLOPT@|$(first_prog ocamlopt)|g" -e "s|@PYCODESTYLE@|$(first_prog pycodestyle)|g" \
      -e "s|@configure_input@|Generated from $(basename "$in") by test/compat.|g" \
      "$in" > "$out.t"
  mv "$out.t" "$out"
}

# wait_slot MAX: wait while MAX background jobs of this shell run; the status
# of the one that ended (wait -n), 0 when none had to be waited for.
wait_slot() {
  while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do wait -n || return; done
}
