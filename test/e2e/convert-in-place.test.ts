// Slow tier: `v2v --in-place` (issue 11) on the sample guest, through a
// qcow2 overlay of it (the sample itself is never written): one conversion
// for the checks (fstab, -O's XML, the boot on virtio), then two that must
// leave the disk byte-identical: a disk that holds no guest, and Ctrl-C
// during the conversion.
import { mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File } from '../helpers/fixtures.js';
import { runCli, type CliResult, stderrBesidesWarnings } from '../helpers/cli.js';
import { once, sharedConversion } from '../helpers/conversions.js';
import { bootOnVirtio, guestOutputs, noSampleGuest, overlayOfSample, sampleGuest, tcg } from '../helpers/guests.js';

describe.skipIf(noSampleGuest)('--in-place on the sample guest', () => {
  const conversion = sharedConversion(async (tmp): Promise<{ disk: string; xml: string; work: string; r: CliResult; sample: string }> => {
    const disk = path.join(tmp, 'guest.qcow2');
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const sample = await sha256File(sampleGuest);
    await overlayOfSample(disk);
    const xml = path.join(tmp, 'guest.xml');
    const r = await runCli(['--in-place', '-i', 'disk', disk, '-O', xml], { env: { ...tcg, TMPDIR: work } });
    return { disk, xml, work, r, sample };
  });
  const guestFiles = once(async () => {
    const [fstab] = await guestOutputs([conversion().disk], 'qcow2', ['cat /etc/fstab']);
    return { fstab: fstab! };
  });

  test('exit 0, warnings only; the work dir gone; the sample (the backing file) unchanged', async () => {
    const c = conversion();
    expect(stderrBesidesWarnings(c.r)).toEqual([]);
    expect(c.r.code).toBe(0);
    expect(await readdir(c.work)).toEqual([]);
    expect(await sha256File(sampleGuest)).toBe(c.sample);
  });

  test('-O: the XML names the converted disk itself on virtio; metadata.out beside it', async () => {
    const c = conversion();
    const xml = await readFile(c.xml, 'utf8');
    expect(xml).toContain(`<source file='${c.disk}'/>`);
    expect(xml).toMatch(/<target dev=['"]vda['"] bus=['"]virtio['"]/);
    expect(JSON.parse(await readFile(`${c.xml}.metadata.out`, 'utf8'))).toMatchObject({ converted: true, diskBus: 'virtio' });
    // Valid for libvirt (its own schema check).
    await run(['virt-xml-validate', c.xml, 'domain']); // exit status 1 (a rejection) if not
  });

  test('the disk itself is converted: fstab names /dev/vda1', { timeout: 300_000 }, async () => {
    const { fstab } = await guestFiles();
    expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
    expect(fstab).not.toMatch(/\/dev\/sda1/);
  });

  test('it boots on virtio (TCG here) to a login prompt', { timeout: 480_000 }, async () => {
    const text = await bootOnVirtio(conversion().disk, 'qcow2');
    expect(text).not.toMatch(/ALERT!|emergency mode/i);
    expect(text).toMatch(/login:/);
  });
});

describe.skipIf(noSampleGuest)('--in-place that does not succeed leaves the disk as it was', () => {
  test('a disk with no guest: the conversion fails, one error naming convert, the disk byte-identical', { timeout: 600_000 }, async ({ tmp }) => {
    const disk = path.join(tmp, 'blank.img');
    await writeFile(disk, '');
    await truncate(disk, 64 * 1024 * 1024);
    const before = await sha256File(disk);
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const r = await runCli(['--in-place', '-i', 'disk', disk, '-q'], { env: { ...tcg, TMPDIR: work } });
    expect(r.code).toBe(1);
    expect(stderrBesidesWarnings(r).join('\n')).toMatch(/^v2v: error: convert: .*inspection could not detect the source guest/);
    expect(await sha256File(disk)).toBe(before);
    expect((await readdir(work)).filter((e) => !e.startsWith('v2v-log-'))).toEqual([]);
  });

  test('Ctrl-C during the conversion: exit 130, the disk byte-identical, nothing left', { timeout: 600_000 }, async ({ tmp }) => {
    const disk = path.join(tmp, 'guest.qcow2');
    await overlayOfSample(disk);
    const before = await sha256File(disk);
    const work = path.join(tmp, 'work');
    await mkdir(work);
    let pid = 0;
    let converting = false;
    const running = runCli(['--in-place', '-i', 'disk', disk], {
      env: { ...tcg, TMPDIR: work },
      onSpawn: (p) => (pid = p),
      onStdout: (s) => (converting ||= s.includes('Converting the guest in place')),
    });
    const t0 = Date.now();
    while (!converting && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 200));
    expect(converting, 'the conversion started').toBe(true);
    // Well inside the conversion (its appliance is booting), long before any commit.
    await new Promise((r) => setTimeout(r, 5000));
    process.kill(pid, 'SIGINT');
    const r = await running;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/cancelled/);
    expect(await sha256File(disk)).toBe(before);
    expect(await readdir(work)).toEqual([]);
  });
});
