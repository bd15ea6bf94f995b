#!/usr/bin/env bash
# Build the data virt-v2v's test scripts need (what virt-v2v's configure and
# Makefiles do for `make check`), under .cache/compat/tree: the phony Windows
# and Fedora guests, blank disks, windows.vmdk, fake-virtio-win.iso, and the
# generated functions.sh and libvirt XML. Idempotent: each image is built once
# (rm -rf .cache/compat/tree to rebuild); a stamp skips everything when the
# vendored files and this script have not changed. libguestfs runs on TCG
# unless LIBGUESTFS_BACKEND_SETTINGS says otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Two parts, each built once at a time under a lock of its own and marked
# by a stamp of its own: the common data (Windows, blank disks, ISOs), then,
# unless COMPAT_FEDORA=no (run.sh, when no script needs one), the Fedora
# guests. Two runs side by side (CI's two groups) so never wait minutes for
# each other: the one that needs no Fedora guest waits at most for the
# common part.
mkdir -p "$CACHE"
fedora=${COMPAT_FEDORA:-yes}
want=$( (cd "$COMPAT_SRC" && find virt-v2v build.sh lib.sh -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
log() { echo "compat: build: $*"; }
# up_to_date STAMP: STAMP says this recipe built its part.
up_to_date() { [ -f "$1" ] && [ "$(cat "$1")" = "$want" ]; }
TD=$TREE/test-data
# make_once OUT CMD...: run CMD (in the current dir) unless OUT exists.
make_once() {
  local out=$1; shift
  if [ -e "$out" ]; then return 0; fi
  log "$out"; local t0=$SECONDS
  "$@"
  [ -e "$out" ] || { echo "compat: build: $* did not make $out" >&2; exit 1; }
  log "$out done in $((SECONDS - t0)) s"
}

build_common() {
  exec 9>"$CACHE/.build.lock"
  flock 9
  if up_to_date "$TREE/.stamp"; then exec 9>&-; return 0; fi
  rm -f "$TREE/.stamp-fedora"
  mkdir -p "$TREE/tests" "$LIBGUESTFS_TMPDIR"
  cp -a "$VENDOR/test-data" "$TREE/"

  # test-data/blank-disks/Makefile.am
  mkdir -p "$TD/blank-disks" && cd "$TD/blank-disks"
  for size in 1s:512 1K:1K 1M:1M; do
    make_once "blank-disk-${size%%:*}.raw" qemu-img create -q -f raw "blank-disk-${size%%:*}.raw" "${size#*:}"
    make_once "blank-disk-${size%%:*}.qcow2" qemu-img create -q -f qcow2 -o preallocation=metadata "blank-disk-${size%%:*}.qcow2" "${size#*:}"
  done
  make_once blank-disk-with-backing.qcow2 qemu-img create -q -f qcow2 -b blank-disk-1M.raw -F raw blank-disk-with-backing.qcow2

  # test-data/fake-virtio-win/Makefile.am
  cd "$TD/fake-virtio-win"
  MKISOFS=$(first_prog xorrisofs genisoimage mkisofs)
  [ "$MKISOFS" != no ] || { echo "compat: build: xorriso or genisoimage must be installed" >&2; exit 1; }
  make_once fake-virtio-win.iso "$MKISOFS" -quiet -J -r -o fake-virtio-win.iso cd

  # test-data/phony-guests/Makefile.am: only the images the scripts use.
  cd "$TD/phony-guests"
  export SRCDIR=.
  compat_subst guests.xml.in guests.xml "$TREE" test-data/phony-guests
  hive() { cp minimal-hive "$1.t" && hivexregedit --merge "$1.t" --prefix "HKEY_LOCAL_MACHINE\\$2" "$1.reg" && mv "$1.t" "$1"; }
  make_once windows-software hive windows-software SOFTWARE
  make_once windows-system hive windows-system SYSTEM
  make_once windows.img ./make-windows-img.sh
  make_once blank-disk.img sh -c 'guestfish -N blank-disk.img-t=disk exit && mv blank-disk.img-t blank-disk.img'

  # tests/Makefile.am: the VMDK some -i ova scripts use (empty if windows.img is).
  cd "$TREE/tests"
  # shellcheck disable=SC2016
  make_once windows.vmdk sh -c 'if [ -s ../test-data/phony-guests/windows.img ]; then
    qemu-img convert -f raw ../test-data/phony-guests/windows.img -O vmdk windows.vmdk.t && mv windows.vmdk.t windows.vmdk
  else touch windows.vmdk; fi'

  echo "$want" > "$TREE/.stamp"
  exec 9>&-
}

build_fedora() {
  exec 8>"$CACHE/.build-fedora.lock"
  flock 8
  if up_to_date "$TREE/.stamp-fedora"; then exec 8>&-; return 0; fi
  cd "$TD/phony-guests"
  export SRCDIR=.
  make_once fedora.db sh -c 'xzcat fedora-db.sql.xz | sqlite3 fedora.db.t && mv fedora.db.t fedora.db'
  make_once fedora-static-bin gcc -O2 -static -o fedora-static-bin fedora.c
  # The five layouts, COMPAT_JOBS at a time (default: the number of cores; each
  # is one appliance, mostly one busy vCPU). make-fedora-img.pl writes its
  # scratch files (fedora.fstab, fedora.mdadm) in its current dir, so each
  # runs in a dir of its own and its images are moved up when it is done.
  fedora_img() {
    local layout=$1 dir=.build-$1; shift
    rm -rf "$dir" && mkdir "$dir" && ln -s ../fedora-static-bin "$dir/"
    (cd "$dir" && LAYOUT=$layout SRCDIR=.. ../make-fedora-img.pl) >"$dir.log" 2>&1 \
      || { cat "$dir.log" >&2; return 1; }
    for img in "$@"; do mv "$dir/$img" "$img"; done
    rm -rf "$dir" "$dir.log"
}
jobs_max=${COMPAT_JOBS:-$(nproc)} pids=()
for spec in partitions:fedora.img partitions-md:fedora-md1.img,fedora-md2.img btrfs:fedora-btrfs.img \
            luks-on-lvm:fedora-luks-on-lvm.img lvm-on-luks:fedora-lvm-on-luks.img; do
  IFS=, read -ra imgs <<<"${spec#*:}"
  [ -e "${imgs[-1]}" ] && continue
  wait_slot "$jobs_max" || exit 1
  make_once "${imgs[-1]}" fedora_img "${spec%%:*}" "${imgs[@]}" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || exit 1; done
echo "$want" > "$TREE/.stamp-fedora"
exec 8>&-
}

build_common
[ "$fedora" = no ] || build_fedora
if [ "$fedora" = no ]; then log "up to date: $TREE (no Fedora guests)"; else log "up to date: $TREE"; fi
