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

# Two groups, each run by one vitest file beside the rest of the suite
# (test/e2e/compat.test.ts and compat-fedora.test.ts; `run.sh --group NAME`):
# main, every script but the Fedora conversions (34), and fedora, the five
# Fedora conversions, which first build their own guests (about 5 minutes one
# at a time). CI runs main; fedora runs with V2V_COMPAT_FEDORA=1 (it would
# take CI past its 45-minute budget: 2141 s of tests with it, 1393 without).
COMPAT_MAIN_SCRIPTS=() COMPAT_FEDORA_SCRIPTS=()
for compat_s in "${COMPAT_SCRIPTS[@]}"; do
  case $compat_s in *fedora*) COMPAT_FEDORA_SCRIPTS+=("$compat_s") ;; *) COMPAT_MAIN_SCRIPTS+=("$compat_s") ;; esac
done
unset compat_s
