// Slow tier: the project's real Debian 12 guest (scripts/build-sample-guest.sh,
// cached in .cache/guests/) converted end to end with virt-v2v-in-place
// through our overlays, `-i disk` (raw) to `-o local`, then checked and
// booted. One conversion for all the checks below (test/helpers/
// conversions.ts): the demo's, when `npm run demo` made exactly this one in
// this checkout and nothing changed since (its stamp: the sample, the build
// id, the output files), else one made here (minutes under TCG).
// Skipped until the guest is built.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, sha256File } from '../helpers/fixtures.js';
import { runCli, type CliResult, stderrBesidesWarnings } from '../helpers/cli.js';
import { demoConversion, once, sharedConversion } from '../helpers/conversions.js';
import { bootThroughLibvirt, createPool, libvirtdMissing, startLibvirtd } from '../helpers/libvirtd.js';
import { bootOnVirtio, guestOutputs, noSampleGuest, sampleGuest, tcg } from '../helpers/guests.js';

type Made =
  /** Converted here: the run and what the test saw around it. */
  | { by: 'test'; out: string; r: CliResult; work: string; before: string }
  /** scripts/demo.sh's output: its own checks passed, its stamp matches. */
  | { by: 'demo'; out: string; why?: undefined };

describe.skipIf(noSampleGuest)('the sample guest, -i disk to -o local', () => {
  const conversion = sharedConversion(async (tmp): Promise<Made> => {
    const demo = await demoConversion();
    if ('out' in demo) {
      console.info(`convert-sample: checking the demo's conversion (${demo.out}): its stamp matches`);
      return { by: 'demo', out: demo.out };
    }
    console.info(`convert-sample: converting here: ${demo.why}`);
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    const before = await sha256File(sampleGuest);
    const r = await runCli(['-i', 'disk', sampleGuest, '-o', 'local', '-os', out, '-on', 'sample', '--machine-readable'], {
      env: { ...tcg, TMPDIR: work },
    });
    return { by: 'test', out, r, work, before };
  });
  const disk = () => path.join(conversion().out, 'sample-sda');
  // The converted guest, read with libguestfs (a peer, not our code): one appliance for both files.
  const guestFiles = once(async () => {
    const [fstab, modules] = await guestOutputs([disk()], 'raw', ['cat /etc/fstab', 'cat /etc/initramfs-tools/modules']);
    return { fstab: fstab!, modules: modules! };
  });

  test('the run: exit 0, no error on stderr (warnings only), the source unchanged, nothing left in the work dir', async ({ skip }) => {
    const c = conversion();
    // The demo's run: scripts/demo.sh checked its exit status, the source and
    // its TMPDIR (set -e, the stamp written last); the stamp's sha256 of the
    // source, taken before it converted, is today's (demoConversion).
    if (c.by === 'demo') return skip("checked by scripts/demo.sh (the demo's conversion is the one checked here)");
    expect(stderrBesidesWarnings(c.r)).toEqual([]);
    expect(c.r.code).toBe(0);
    expect(await sha256File(sampleGuest)).toBe(c.before);
    expect(await readdir(c.work)).toEqual([]);
  });

  test('the output: the disk and a libvirt XML naming a virtio disk and NIC', async () => {
    const { out } = conversion();
    expect((await readdir(out)).sort()).toEqual(['sample-sda', 'sample.xml']);
    const xml = await readFile(path.join(out, 'sample.xml'), 'utf8');
    expect(xml).toMatch(/<target dev=['"]vda['"] bus=['"]virtio['"]/);
    expect(xml).toMatch(/model type=['"]virtio['"]/);
  });

  test('fstab names /dev/vda1, no /dev/sda1 left', { timeout: 300_000 }, async () => {
    const { fstab } = await guestFiles();
    expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
    expect(fstab).not.toMatch(/\/dev\/sda1/);
  });

  test('the initramfs is told to load virtio_blk', { timeout: 300_000 }, async () => {
    const { modules } = await guestFiles();
    expect(modules).toMatch(/virtio_blk/);
  });

  // TCG takes 30-45 s to the prompt on an idle machine, minutes on a busy one.
  // Booted once: through libvirt (below) where a libvirtd can run, else here
  // with qemu directly (the same converted disk on virtio either way).
  test.skipIf(libvirtdMissing() === undefined)('it boots on virtio (disk and NIC; TCG here) to a login prompt', { timeout: 480_000 }, async () => {
    const text = await bootOnVirtio(disk(), 'raw');
    expect(text).not.toMatch(/ALERT!|emergency mode/i);
    expect(text).toMatch(/login:/);
  });

  // -o libvirt (issue 13): the converted disk copied into a pool of a real
  // libvirtd (a private one) as it is, the guest defined; libvirt starts it
  // from its volume (as type qemu, TCG, where the tests force TCG:
  // bootThroughLibvirt), on a virtio disk and NIC.
  test.skipIf(libvirtdMissing() !== undefined)('-o libvirt: defined from its volume, libvirt boots it to a login prompt', { timeout: 600_000 }, async ({ tmp }) => {
    const d = await startLibvirtd();
    try {
      await createPool(d, 'guests', path.join(tmp, 'pool'));
      const r = await runCli(['-i', 'disk', disk(), '-o', 'libvirt', '-oc', d.uri, '-os', 'guests', '-on', 'sample', '--no-convert', '-q']);
      expect(r.stderr.split('\n').filter((l) => l && !/does not support a x86_64 KVM guest/.test(l))).toEqual([]);
      expect(r.code).toBe(0);
      expect(await d.virsh('dominfo', 'sample')).toMatch(/^State:\s+shut off$/m);
      const defined = await d.virsh('dumpxml', 'sample');
      expect(defined).toMatch(/<source pool='guests' volume='sample-sda'\/>\s*<target dev='vda' bus='virtio'\/>/);
      expect(defined).toMatch(/<interface type=[\s\S]*?<model type='virtio'\/>/);
      const text = await bootThroughLibvirt(d, 'sample', tmp);
      expect(text).not.toMatch(/ALERT!|emergency mode/i);
      expect(text).toMatch(/login:/);
    } finally {
      await d.stop();
    }
  });
});
