#!/usr/bin/env bash
# The main job on the built-in sample: convert the project's small Debian 12
# guest (scripts/build-sample-guest.sh, cached in .cache/guests/; built here
# if missing) with `v2v -i disk ... -o local`, a progress bar per disk on a
# terminal, then check what was written: the libvirt XML validates and names
# a virtio disk, the source is unchanged, nothing is left in v2v's TMPDIR.
# Output in .cache/demo/.
#
# Last, .cache/demo.stamp records the sample's sha256, the build id
# (scripts/build-id.sh), the command line and the sha256 of each output file:
# the slow tier (test/e2e/convert-sample.test.ts) checks this conversion
# instead of making the same one again while all of them still match.
# libguestfs runs on TCG unless LIBGUESTFS_BACKEND_SETTINGS says otherwise
# (set it empty to let it use KVM): KVM hangs on some hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}"
guest=.cache/guests/debian12-sda.img
[ -f "$guest" ] || scripts/build-sample-guest.sh
out=.cache/demo
stamp=.cache/demo.stamp
rm -rf "$out" "$stamp"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/v2v-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
args=(-i disk "$guest" -o local -os "$out" -on sample)
build=$(scripts/build-id.sh)
before=$(sha256sum < "$guest" | cut -d' ' -f1)
TMPDIR="$work" node bin/v2v.js "${args[@]}"
virt-xml-validate "$out/sample.xml" domain >/dev/null
grep -Eq "<target dev=.vda. bus=.virtio./>" "$out/sample.xml"
[ "$(sha256sum < "$guest" | cut -d' ' -f1)" = "$before" ]
left=$(ls -A "$work")
[ -z "$left" ] || { echo "demo: v2v left files in its TMPDIR $work: $left" >&2; exit 1; }
{
  echo "source $before"
  echo "build $build"
  echo "args ${args[*]}"
  for f in sample-sda sample.xml; do echo "file $f $(sha256sum < "$out/$f" | cut -d' ' -f1)"; done
} > "$stamp.partial"
mv "$stamp.partial" "$stamp"
echo "demo: converted $guest -> $out/sample-sda + $out/sample.xml (valid libvirt XML, virtio disk; the source is unchanged)"
