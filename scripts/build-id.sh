#!/usr/bin/env bash
# build-id.sh: print one sha256 naming what `v2v` runs in this checkout: the
# built engine (bin/, dist/, the native addon), its dependencies
# (package-lock.json), node, and the programs a conversion drives
# (virt-v2v-in-place, nbdkit, qemu-img, qemu-nbd: first line of --version).
# scripts/demo.sh stamps its conversion with it; the slow tier checks the
# demo's output instead of converting the sample again only while the build
# id, the sample guest and that output are all unchanged
# (test/helpers/conversions.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  find bin dist build/Release/v2v_nbd.node package-lock.json -type f -print0 2>/dev/null |
    LC_ALL=C sort -z | xargs -0 -r sha256sum
  node --version
  for tool in virt-v2v-in-place nbdkit qemu-img qemu-nbd; do
    { "$tool" --version 2>&1 || echo "$tool: missing"; } | sed -n 1p
  done
} | sha256sum | cut -d' ' -f1
