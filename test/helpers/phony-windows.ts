// virt-v2v's phony Windows 7 guest (test-data/phony-guests/windows.img), as
// test/compat/build.sh builds it for the compat scripts, with the fake
// virtio-win and virt-tools data its conversion uses. The slow tier uses it
// where a test needs *a* conversion through an input path but not a Linux
// guest's: it converts in about a third of the sample's time on TCG (no
// initramfs to rebuild). Built once per machine (build.sh is idempotent and
// takes a lock), shared with test/e2e/compat.test.ts.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './cli.js';
import { run } from './fixtures.js';
import { has } from './tools.js';

// Where build.sh builds it (test/compat/lib.sh: $COMPAT_CACHE/tree).
const tree = path.join(process.env.COMPAT_CACHE ?? path.join(repoRoot, '.cache', 'compat'), 'tree', 'test-data');

export interface PhonyWindows {
  /** The raw image (512 MiB, never written by the tests: they convert copies of it). */
  image: string;
  /** For VIRTIO_WIN: a virtio-win tree with the viostor, vioscsi and netkvm drivers. */
  virtioWin: string;
  /** For VIRT_TOOLS_DATA_DIR: rhsrvany.exe and pnp_wait.exe. */
  virtToolsData: string;
}

/** What building it needs (besides libguestfs): the tools test/compat/build.sh runs. */
export const noPhonyWindows =
  !has('guestfish') || !has('hivexregedit') || !has('virt-v2v-in-place') || !(has('xorrisofs') || has('genisoimage') || has('mkisofs'));

let built: Promise<PhonyWindows> | undefined;

/** The phony Windows guest, built first if this machine has not built it yet. */
export function phonyWindows(): Promise<PhonyWindows> {
  built ??= (async () => {
    await run([path.join(repoRoot, 'test', 'compat', 'build.sh')], { env: { COMPAT_FEDORA: 'no' } });
    const w = {
      image: path.join(tree, 'phony-guests', 'windows.img'),
      virtioWin: path.join(tree, 'fake-virtio-win'),
      virtToolsData: path.join(tree, 'fake-virt-tools'),
    };
    for (const p of Object.values(w)) if (!existsSync(p)) throw new Error(`test/compat/build.sh did not make ${p}`);
    return w;
  })();
  return built;
}
