#!/usr/bin/env bash
# build-sample-guest.sh: build (and cache) the project's small real Linux test guest.
#
# Usage: sudo scripts/build-sample-guest.sh [--force]
#
#   Output: .cache/guests/debian12-sda.img (+ debian12-sda.img.sha256), a guest
#   that looks like it came from VMware: raw 2 GiB sparse disk, MBR, one ext4
#   root partition /dev/sda1, /etc/fstab naming /dev/sda1 (no UUID), the
#   kernel command line root=UUID=... as Debian's grub writes it (a device
#   name there would be the one update-grub saw: the conversion runs
#   update-grub inside the libguestfs appliance, where the disk is not the
#   guest's sda), grub for BIOS boot, console=ttyS0 and a getty on
#   ttyS0 (login prompt on the serial port; root is locked, no autologin).
#   Does nothing if the image and its checksum file exist and match;
#   --force rebuilds. Needs root (debootstrap + chroot), network access to a
#   Debian mirror (DEBIAN_MIRROR, default http://deb.debian.org/debian),
#   debootstrap and libguestfs-tools. Takes a few minutes.
#
#   Boot it (TCG; q35's IDE is AHCI, so the disk is sda):
#     qemu-system-x86_64 -machine q35,accel=tcg -m 1024 \
#       -drive file=.cache/guests/debian12-sda.img,format=raw,if=ide,snapshot=on \
#       -serial file:serial.log -display none
#
# How it works: debootstrap (minbase) into a private temp dir, install the
# kernel and grub in a chroot, tar the tree, then let libguestfs partition and
# format a sparse raw file, unpack the tree and run grub-install/update-grub
# inside its appliance (no loop devices needed).
#
# Initramfs: MODULES=dep cannot be used here: in the host chroot it would
# detect the host's root disk (virtio), and the libguestfs appliance attaches
# disks through virtio-scsi. Instead the initramfs is built with MODULES=list
# and an explicit list of non-virtio storage drivers (ata_piix, ahci, sd_mod,
# the VMware controllers mptspi/vmw_pvscsi, ext4), so it contains NO virtio
# drivers; the script checks this. The kernel's modules directory does contain
# virtio drivers, as a real guest's would: conversion must add them to the
# initramfs (virt-v2v appends them to /etc/initramfs-tools/modules and runs
# update-initramfs).
set -euo pipefail

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build-sample-guest: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/.cache/guests"
name="debian12-sda.img"
out="$out_dir/$name"
sum="$out.sha256"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
size=2G

# The image is rebuilt when this script (its recipe) changes.
recipe="$out.recipe"
want_recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
if [[ $force -eq 0 && -f "$out" && -f "$sum" && -f "$recipe" && "$(cat "$recipe")" == "$want_recipe" ]] &&
   (cd "$out_dir" && sha256sum --status -c "$name.sha256"); then
  echo "build-sample-guest: $out is up to date (use --force to rebuild)"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "build-sample-guest: must run as root (debootstrap, chroot)" >&2
  exit 1
fi
for tool in debootstrap guestfish chroot sha256sum; do
  command -v "$tool" >/dev/null || { echo "build-sample-guest: missing $tool" >&2; exit 1; }
done

# KVM hangs on the project's build machines; TCG works everywhere.
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/build-sample-guest.XXXXXX")"
root="$tmp/root"
cleanup() {
  local m
  for m in "$root/proc" "$root/sys"; do
    if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
  done
  # --one-file-system: never descend into anything still mounted in the tree.
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
log() { printf '[%4ds] %s\n' "$((SECONDS - start))" "$*"; }

# ---- 1. the filesystem tree ------------------------------------------------
log "debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,kmod,initramfs-tools,e2fsprogs,zstd \
  "$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
  { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
# No services start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF

# Initramfs without virtio drivers (see the header).
cat >"$root/etc/initramfs-tools/conf.d/sample-guest" <<'EOF'
MODULES=list
RESUME=none
EOF
cat >>"$root/etc/initramfs-tools/modules" <<'EOF'
ata_piix
ata_generic
ahci
sd_mod
mptspi
vmw_pvscsi
ext4
EOF

# grub-pc: install to no device now; grub-install runs later on the real disk.
in_root debconf-set-selections <<'EOF'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
EOF

log "apt-get install linux-image-amd64 grub-pc"
in_root apt-get -o Acquire::Retries=3 update >"$tmp/apt.log" 2>&1 ||
  { tail -n 30 "$tmp/apt.log" >&2; exit 1; }
in_root apt-get -y -o Acquire::Retries=3 --no-install-recommends install \
  linux-image-amd64 grub-pc >>"$tmp/apt.log" 2>&1 ||
  { tail -n 30 "$tmp/apt.log" >&2; exit 1; }

initrd="$(cd "$root/boot" && ls initrd.img-* | head -n 1)"
if in_root lsinitramfs "/boot/$initrd" | grep -q '/virtio'; then
  echo "build-sample-guest: $initrd contains virtio drivers" >&2
  exit 1
fi
log "$initrd has no virtio drivers"

# ---- 2. guest configuration ----------------------------------------------
echo debian12-sda >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12-sda\n' >"$root/etc/hosts"
cat >"$root/etc/fstab" <<'EOF'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/sda1	/	ext4	errors=remount-ro	0	1
EOF
mkdir -p "$root/etc/default/grub.d"
cat >"$root/etc/default/grub.d/sample-guest.cfg" <<'EOF'
GRUB_TIMEOUT=1
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"
EOF
# Login prompt on the serial port (systemd would also infer it from console=).
mkdir -p "$root/etc/systemd/system/getty.target.wants"
ln -sf /lib/systemd/system/serial-getty@.service \
  "$root/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"

# Clean up: apt caches and lists, logs, machine-id (regenerated at first boot).
in_root apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/debconf/*-old "$root"/var/log/apt/* "$root"/tmp/*
find "$root/var/log" -type f -exec truncate -s 0 {} +
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

umount "$root/sys" "$root/proc"

log "tar the tree ($(du -sh --one-file-system "$root" | cut -f1))"
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" \
  -cf "$tmp/root.tar" .

# ---- 3. the disk image (libguestfs appliance, TCG) -----------------------
log "make the disk image with guestfish"
img="$tmp/$name"
truncate -s "$size" "$img"
guestfish --format=raw -a "$img" >"$tmp/guestfish.log" 2>&1 <<EOF ||
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 -1
part-set-bootable /dev/sda 1 true
mkfs ext4 /dev/sda1 label:root
mount /dev/sda1 /
tar-in "$tmp/root.tar" / xattrs:true acls:true
sh "grub-install --target=i386-pc /dev/sda 2>&1"
sh "update-grub 2>&1"
sh "grep -c 'root=UUID=.*console=ttyS0' /boot/grub/grub.cfg"
sync
umount-all
EOF
  { cat "$tmp/guestfish.log" >&2; exit 1; }
cat "$tmp/guestfish.log"

# ---- 4. publish -------------------------------------------------------------
mkdir -p "$out_dir"
rm -f "$sum"
cp --sparse=always "$img" "$out.partial"
mv -f "$out.partial" "$out"
(cd "$out_dir" && sha256sum "$name" >"$name.sha256.partial" &&
  mv -f "$name.sha256.partial" "$name.sha256")
echo "$want_recipe" >"$recipe"
log "built $out ($(du -h "$out" | cut -f1) allocated, $size virtual)"
