#!/usr/bin/env bash
# The main job on a small built-in sample: copy a 1 GiB sample disk (30 %
# data, the rest holes, made by nbdkit's sparse-random plugin) to a local file
# with a progress bar, then check the copy with qemu-img compare.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t v2v-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
sample=(nbdkit sparse-random 1G percent=30 seed=2026)
node bin/v2v.js copy --progress --stats -- [ "${sample[@]}" ] "$work/sample-copy.img"
nbdcopy -- [ "${sample[@]}" ] "$work/reference.img"
qemu-img compare -q -f raw -F raw "$work/reference.img" "$work/sample-copy.img"
echo "demo: the sample disk was copied and verified ($(du -h "$work/sample-copy.img" | cut -f1) allocated of 1 GiB)"
