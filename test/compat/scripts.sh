# The virt-v2v 2.2.0 test scripts (tests/) the compat runner runs; sourced
# by run.sh and vendor.sh.
# shellcheck disable=SC2034
COMPAT_SCRIPTS=(
  rhbz1232192.sh
  test-v2v-bad-networks-and-bridges.sh
  test-v2v-fedora-btrfs-conversion.sh
  test-v2v-fedora-conversion.sh
  test-v2v-fedora-luks-on-lvm-conversion.sh
  test-v2v-fedora-lvm-on-luks-conversion.sh
  test-v2v-fedora-md-conversion.sh
  test-v2v-i-disk.sh
  test-v2v-i-ova-as-root.sh
  test-v2v-i-ova-bad-sha1.sh
  test-v2v-i-ova-bad-sha256.sh
  test-v2v-i-ova-directory.sh
  test-v2v-i-ova-formats.sh
  test-v2v-i-ova-good-checksums.sh
  test-v2v-i-ova-gz.sh
  test-v2v-i-ova-invalid-manifest1.sh
  test-v2v-i-ova-invalid-manifest2.sh
  test-v2v-i-ova-snapshots.sh
  test-v2v-i-ova-subfolders.sh
  test-v2v-i-ova-tar.sh
  test-v2v-i-ova-two-disks.sh
  test-v2v-i-ova.sh
  test-v2v-i-vmx.sh
  test-v2v-machine-readable.sh
  test-v2v-o-local-qcow2-compressed.sh
  test-v2v-print-source.sh
  # -i libvirt (libvirt's test:// driver)
  test-v2v-cdrom.sh
  test-v2v-floppy.sh
  test-v2v-mac.sh
  test-v2v-networks-and-bridges.sh
  test-v2v-o-null.sh
  test-v2v-o-qemu.sh
  test-v2v-oa-option-qcow2.sh
  test-v2v-oa-option-raw.sh
  test-v2v-of-option.sh
  test-v2v-on-option.sh
  test-v2v-sound.sh
  test-v2v-virtio-win-iso.sh
  test-v2v-windows-conversion.sh
)

# What CI runs (`run.sh --ci`, from test/e2e/compat.test.ts): every script
# that converts nothing (seconds each), and two conversions for what the
# quick ones do not reach: Windows with VIRTIO_WIN's drivers (virtio buses),
# and Windows through -i libvirt's test driver without them (the safe buses,
# --mac). About 5 minutes under TCG with the data build; the whole list
# (about an hour) is `npm run compat`. No Fedora guest is built for it.
COMPAT_CI_SCRIPTS=(
  test-v2v-bad-networks-and-bridges.sh
  test-v2v-i-ova-bad-sha1.sh
  test-v2v-i-ova-bad-sha256.sh
  test-v2v-i-ova-formats.sh
  test-v2v-i-ova-good-checksums.sh
  test-v2v-i-ova-gz.sh
  test-v2v-i-ova-invalid-manifest1.sh
  test-v2v-i-ova-invalid-manifest2.sh
  test-v2v-i-ova-snapshots.sh
  test-v2v-i-ova-subfolders.sh
  test-v2v-i-ova-tar.sh
  test-v2v-i-ova-two-disks.sh
  test-v2v-i-vmx.sh
  test-v2v-machine-readable.sh
  test-v2v-print-source.sh
  test-v2v-windows-conversion.sh
  test-v2v-mac.sh
)
