// Slow tier, part two: a two-disk qcow2 guest to -o qemu -of qcow2 (disks
// copied in parallel, both renamed in fstab, the script boots it), the
// sample to -o null, and a guest whose conversion fails (a clear error
// naming the step and its log, nothing left behind). Skipped until the
// sample guest is built (scripts/setup.sh builds it).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File, processesUsing } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { bootConsole, makeKernellessGuest, makeTwoDiskGuest, noSampleGuest, sampleGuest, tcg } from '../helpers/guests.js';

interface LogLine {
  msg: string;
  time: string;
  disk: string | null;
}

async function copySpan(logs: string, disk: string): Promise<[number, number]> {
  const lines = (await readFile(path.join(logs, `copy-${disk}.log`), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine);
  const t = (msg: string) => Date.parse(lines.find((l) => l.msg === msg)!.time);
  return [t('copy starting'), t('copy finished')];
}

describe.skipIf(noSampleGuest)('convert variants of the sample guest', () => {
  test('two qcow2 disks to -o qemu -of qcow2: parallel copies, fstab renamed, the script boots it', { timeout: 1_200_000 }, async ({ tmp }) => {
    const sda = path.join(tmp, 'guest-sda.qcow2');
    const sdb = path.join(tmp, 'guest-sdb.qcow2');
    const { blobSha256 } = await makeTwoDiskGuest(sda, sdb);
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    const logs = path.join(tmp, 'logs');
    await Promise.all([mkdir(out), mkdir(work)]);
    const before = await Promise.all([sha256File(sda), sha256File(sdb), sha256File(sampleGuest)]);

    const r = await runCli(['-i', 'disk', sda, sdb, '-o', 'qemu', '-os', out, '-of', 'qcow2', '-on', 'two', '--log-dir', logs], {
      env: { ...tcg, TMPDIR: work },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\] Copying 2 disks in parallel/);
    expect(await Promise.all([sha256File(sda), sha256File(sdb), sha256File(sampleGuest)])).toEqual(before);
    expect((await readdir(out)).sort()).toEqual(['two-sda', 'two-sdb', 'two.sh']);
    expect(await run(['qemu-img', 'info', '--output=json', path.join(out, 'two-sdb')])).toMatch(/"format": "qcow2"/);
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);

    // The two copies overlapped in time.
    const [a, b] = [await copySpan(logs, 'sda'), await copySpan(logs, 'sdb')];
    expect(a[0]).toBeLessThanOrEqual(b[1]);
    expect(b[0]).toBeLessThanOrEqual(a[1]);

    // Both disks converted: fstab names the virtio devices, the data disk's file survived.
    const gf = (cmds: string) =>
      run(['guestfish', '--ro', '--format=qcow2', '-a', path.join(out, 'two-sda'), '-a', path.join(out, 'two-sdb'), '-i'], {
        env: tcg,
        input: `${cmds}\n`,
      });
    const fstab = await gf('cat /etc/fstab');
    expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
    expect(fstab).toMatch(/^\/dev\/vdb1\s+\/data\s/m);
    expect(fstab).not.toMatch(/\/dev\/sd[ab]1/);
    expect(await gf('cat /data/hello')).toMatch(/^hello from sdb\n/);
    expect((await gf('checksum sha256 /data/blob')).trim()).toBe(blobSha256);

    // The qemu script boots it (TCG, disposable snapshot) to a login prompt:
    // a /data that failed to mount would stop in emergency mode instead.
    const script = await readFile(path.join(out, 'two.sh'), 'utf8');
    expect(script).toMatch(/if=virtio/);
    const text = await bootConsole(['sh', path.join(out, 'two.sh'), '-machine', 'accel=tcg', '-snapshot', '-m', '1024']);
    expect(text).not.toMatch(/ALERT!|emergency mode/i);
    expect(text).toMatch(/login:/);
  });

  test('-o null: converted and copied to nothing, nothing written', { timeout: 900_000 }, async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const r = await runCli(['-i', 'disk', sampleGuest, '-o', 'null', '--machine-readable'], { env: { ...tcg, TMPDIR: work } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e.type === 'step.finished').map((e) => e.step)).toEqual([
      'input',
      'convert',
      'output-setup',
      'copy',
      'output-finalize',
      'cleanup',
    ]);
    const done = events.filter((e) => e.type === 'copy.progress' && e.disk === 'sda').at(-1);
    expect(done?.done).toBe(done?.total);
    expect(await readdir(work)).toEqual([]);
  });

  test('a guest whose conversion fails: one line naming the step and its log, exit 1, nothing left', { timeout: 900_000 }, async ({ tmp }) => {
    const bad = path.join(tmp, 'nokernel.qcow2');
    await makeKernellessGuest(bad);
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await Promise.all([mkdir(out), mkdir(work)]);
    const before = await sha256File(bad);
    const r = await runCli(['-i', 'disk', bad, '-o', 'local', '-os', out], { env: { ...tcg, TMPDIR: work } });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^v2v: convert: .*virt-v2v-in-place failed.*\(log: .*convert\.log\)$/);
    const log = /\(log: (.*)\)$/.exec(lines[0]!)![1]!;
    expect(await readFile(log, 'utf8')).toMatch(/virt-v2v-in-place/);
    expect(log.startsWith(work)).toBe(true);
    expect(await sha256File(bad)).toBe(before);
    expect(await readdir(out)).toEqual([]);
    // The work dir is gone; only the failed job's log dir is kept.
    expect((await readdir(work)).filter((d) => !d.startsWith('v2v-log-'))).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });
});
