#!/usr/bin/env bash
# The main job on the built-in sample: convert the project's small Debian 12
# guest (scripts/build-sample-guest.sh, cached in .cache/guests/; built here
# if missing) with `v2v -i disk ... -o local`, a progress bar per disk on a
# terminal, then check what was written: the libvirt XML validates and names
# a virtio disk, the source is unchanged. Output in .cache/demo/.
# libguestfs runs on TCG unless LIBGUESTFS_BACKEND_SETTINGS says otherwise
# (set it empty to let it use KVM): KVM hangs on some hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}"
guest=.cache/guests/debian12-sda.img
[ -f "$guest" ] || scripts/build-sample-guest.sh
out=.cache/demo
rm -rf "$out"
mkdir -p "$out"
before=$(sha256sum < "$guest")
node bin/v2v.js -i disk "$guest" -o local -os "$out" -on sample
virt-xml-validate "$out/sample.xml" domain >/dev/null
grep -Eq "<target dev=.vda. bus=.virtio./>" "$out/sample.xml"
[ "$(sha256sum < "$guest")" = "$before" ]
echo "demo: converted $guest -> $out/sample-sda + $out/sample.xml (valid libvirt XML, virtio disk; the source is unchanged)"
