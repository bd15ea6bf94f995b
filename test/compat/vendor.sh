#!/usr/bin/env bash
# Re-vendor virt-v2v's black-box tests into test/compat/virt-v2v/ from a
# git clone or mirror of libguestfs/virt-v2v (maintainers only: CI uses the
# copy in the repo). Usage: test/compat/vendor.sh GIT_DIR [TAG]
set -euo pipefail
GIT=${1:?usage: vendor.sh GIT_DIR [TAG]}
TAG=${2:-v2.2.0}
cd "$(dirname "$0")"
. ./scripts.sh # COMPAT_SCRIPTS
OUT=virt-v2v
rm -rf "$OUT/tests" "$OUT/test-data"

files=(COPYING tests/functions.sh.in)
for s in "${COMPAT_SCRIPTS[@]}"; do files+=("tests/$s"); done
# Data the scripts read: expected outputs, OVFs, VMX files, libvirt XML.
while read -r f; do files+=("$f"); done < <(
  git -C "$GIT" ls-tree -r --name-only "$TAG" tests |
    grep -E '\.(expected2?|ovf|xml\.in|vmx)$|-expected\.xml$|test-v2v-i-ova\.xml$' |
    grep -Ev 'o-rhv|o-vdsm')
# The phony guests' build scripts and their inputs (Windows, Fedora).
for f in make-windows-img.sh make-fedora-img.pl windows-software.reg windows-system.reg \
  minimal-hive fedora-db.sql.xz fedora-journal.tar.xz fedora.c guests.xml.in; do
  files+=("test-data/phony-guests/$f")
done
# Uploaded into the phony guests as cmd.exe and /bin/ls.
files+=(test-data/binaries/bin-win32.exe test-data/binaries/bin-x86_64-dynamic)
while read -r f; do files+=("$f"); done < <(
  git -C "$GIT" ls-tree -r --name-only "$TAG" test-data/fake-virtio-win test-data/fake-virt-tools |
    grep -v 'Makefile\.am$')

for f in "${files[@]}"; do
  mkdir -p "$OUT/$(dirname "$f")"
  git -C "$GIT" show "$TAG:$f" > "$OUT/$f"
  # Keep the executable bit of scripts.
  if git -C "$GIT" ls-tree "$TAG" "$f" | grep -q '^100755'; then chmod 755 "$OUT/$f"; fi
done
echo "vendored ${#files[@]} files from $TAG"
