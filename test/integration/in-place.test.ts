// In-place conversion's commit on success (issue 11), without an appliance:
// `v2v input --in-place` serves each disk through a qcow2 overlay in the
// work dir; what a conversion would write is written into in<N> over NBD
// (qemu-io), and `v2v convert DIR --no-convert` commits it. The disks must
// not change before the commit, must hold exactly what was written after
// it, and a commit cut short must be finished by `v2v cleanup DIR`; an
// overlay that names another disk is refused and nothing is written.
import { mkdir, readFile, writeFile, readdir, open } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { processesUsing, run, sha256File, makeRaw } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { expectOk, gone, test, v2v } from '../helpers/workdirs.js';
import { nbdUnixUri } from '../../src/process/server.js';

const MiB = 1024 * 1024;
const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('qemu-io');

/** What a conversion would do to disk N: data at odd offsets, a zeroed range, through in<N>. */
async function scribble(dir: string, index: number, pattern: number): Promise<void> {
  const uri = nbdUnixUri(path.join(dir, `in${index}`));
  await run(['qemu-io', '-f', 'raw', '-c', `write -P ${pattern} 70000 5000`, '-c', `write -P ${pattern + 1} 3M 1M`, '-c', 'write -z 8M 1M', uri]);
}

/** The bytes disk FILE (of FORMAT) reads as, through qemu. */
async function rawOf(file: string, format: string, dest: string): Promise<string> {
  await run(['qemu-img', 'convert', '-q', '-f', format, '-O', 'raw', file, dest]);
  return sha256File(dest);
}

/** Input --in-place of a raw and a qcow2 disk, the same scribbles into each overlay and into reference copies. */
async function prepared(tmp: string, dir = path.join(tmp, 'wd')): Promise<{ dir: string; a: string; b: string; before: string[]; want: string[] }> {
  const a = path.join(tmp, 'a.img');
  const braw = path.join(tmp, 'b.raw');
  const b = path.join(tmp, 'b.qcow2');
  await makeRaw(a, 16, 1);
  await makeRaw(braw, 16, 2);
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', braw, b]);
  const before = [await sha256File(a), await sha256File(b)];
  // The reference: the same writes into copies of the disks.
  const refA = path.join(tmp, 'ref-a.img');
  const refB = path.join(tmp, 'ref-b.raw');
  await run(['cp', a, refA]);
  await run(['cp', braw, refB]);
  expectOk(await v2v('input', '-i', 'disk', a, b, '--in-place', '--workdir', dir), 'input --in-place');
  for (const [i, ref] of [refA, refB].entries()) {
    await scribble(dir, i, 0x40 + 2 * i);
    await run(['qemu-io', '-f', 'raw', '-c', `write -P ${0x40 + 2 * i} 70000 5000`, '-c', `write -P ${0x41 + 2 * i} 3M 1M`, '-c', 'write -z 8M 1M', ref]);
  }
  const want = [await sha256File(refA), await sha256File(refB)];
  return { dir, a, b, before, want };
}

/** DIR as the work dir of a job that died half-way through its commit: the record of a dead process, commit.json naming DISKS, disk A half-written. */
async function diedCommitting(dir: string, a: string, disks: number[]): Promise<void> {
  const job = JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8')) as Record<string, unknown>;
  // pid_max is at most 2^22: no such process.
  await writeFile(path.join(dir, 'job.json'), JSON.stringify({ ...job, owner: 'process', pid: 2 ** 22 - 1, start: '1' }));
  await writeFile(path.join(dir, 'commit.json'), JSON.stringify({ version: 1, kind: 'v2v-commit', state: 'committing', disks, updated: new Date().toISOString() }));
  const fh = await open(a, 'r+');
  await fh.write(Buffer.alloc(5000, 0x40), 0, 5000, 70000);
  await fh.close();
}

describe.skipIf(needs)('--in-place: commit on success', () => {
  test('the disks change only at the commit, then hold exactly what the conversion wrote; -O writes the XML', async ({ tmp }) => {
    const { dir, a, b, before, want } = await prepared(tmp);
    const metaIn = JSON.parse(await readFile(path.join(dir, 'metadata.in'), 'utf8')) as { disks: { commit?: { overlay: string; target: string } }[] };
    expect(metaIn.disks.map((d) => d.commit)).toEqual([
      { overlay: 'in0.overlay.qcow2', target: a, format: 'raw' },
      { overlay: 'in1.overlay.qcow2', target: b, format: 'qcow2' },
    ]);
    // Written into the overlays only: the disks are as they were.
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);

    const xml = path.join(tmp, 'guest.xml');
    expectOk(await v2v('convert', dir, '--no-convert', '-O', xml), 'convert');
    expect(await rawOf(a, 'raw', path.join(tmp, 'a.out'))).toBe(want[0]);
    expect(await rawOf(b, 'qcow2', path.join(tmp, 'b.out'))).toBe(want[1]);
    await run(['qemu-img', 'check', '-q', b]);
    const text = await readFile(xml, 'utf8');
    expect(text).toContain(`<source file='${a}'/>`);
    expect(text).toContain(`<source file='${b}'/>`);
    expect(text).toContain("<driver name='qemu' type='qcow2'/>");
    expect(JSON.parse(await readFile(`${xml}.metadata.out`, 'utf8'))).toMatchObject({ kind: 'v2v-metadata-out', disks: [{ index: 0 }, { index: 1 }] });
    expect(JSON.parse(await readFile(path.join(dir, 'commit.json'), 'utf8'))).toMatchObject({ state: 'committed', disks: [0, 1] });
    // Only what the overlay held was read: 5000 bytes + 1 MiB + the zeroed MiB, in whole clusters.
    const log = await readFile(path.join(dir, 'convert.log'), 'utf8');
    const committed = log.split('\n').filter((l) => l.includes('"in-place: disk committed"')).map((l) => JSON.parse(l) as { bytes: number });
    expect(committed).toHaveLength(2);
    for (const c of committed) expect(c.bytes).toBeLessThan(4 * MiB);
    expectOk(await v2v('cleanup', dir), 'cleanup');
    expect(await gone(dir)).toBe(true);
  });

  test('a commit cut short (commit.json says committing, a disk half-written) is finished by v2v cleanup DIR', async ({ tmp }) => {
    const { dir, a, b, want } = await prepared(tmp);
    // As a process killed half-way through the commit leaves it: the record, and a disk with some bytes already written.
    await writeFile(path.join(dir, 'commit.json'), JSON.stringify({ version: 1, kind: 'v2v-commit', state: 'committing', disks: [0, 1], updated: new Date().toISOString() }));
    const fh = await open(a, 'r+');
    await fh.write(Buffer.alloc(5000, 0x40), 0, 5000, 70000);
    await fh.close();
    // Nothing removes the dir now: its overlays are the only complete copy.
    expect((await readdir(dir)).includes('in0.overlay.qcow2')).toBe(true);
    const r = await v2v('cleanup', dir);
    expect(r.code, r.stderr).toBe(0);
    // Said, since the disks were half-converted until then.
    expect(r.stderr).toBe(`v2v: warning: ${dir}: an in-place commit had been cut short: finished it from the overlays (${a}, ${b})\n`);
    expect(await gone(dir)).toBe(true);
    expect(await rawOf(a, 'raw', path.join(tmp, 'a.out'))).toBe(want[0]);
    expect(await rawOf(b, 'qcow2', path.join(tmp, 'b.out'))).toBe(want[1]);
  });

  test('a dead job cut short in its commit: cleanup --stale finishes the commit before the dir goes; one it cannot finish keeps its dir', async ({ tmp }) => {
    const parent = path.join(tmp, 'parent');
    await mkdir(parent);
    const { dir, a, b, want } = await prepared(tmp, path.join(parent, 'v2v-dead'));
    await diedCommitting(dir, a, [0, 1]);
    // A second dead job whose commit record does not match its disks: it cannot be finished.
    await mkdir(path.join(tmp, 'o'));
    const other = await prepared(path.join(tmp, 'o'), path.join(parent, 'v2v-mismatch'));
    await diedCommitting(other.dir, other.a, [0]);
    const halfWritten = await sha256File(other.a);

    const r = await runCli(['cleanup', '--stale', '--parent', parent]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const [said, error, ...more] = r.stderr.trimEnd().split('\n');
    expect(said).toBe(`v2v: warning: ${dir}: an in-place commit had been cut short: finished it from the overlays (${a}, ${b})`);
    expect(error).toContain(`v2v: error: cleanup --stale: work dir ${other.dir} kept: ${other.dir}: commit.json names disks 0, metadata.in's in-place disks differ`);
    expect(error).toContain('1 cleaned up');
    expect(more).toEqual([]);
    expect(await gone(dir)).toBe(true);
    expect(await rawOf(a, 'raw', path.join(tmp, 'a.out'))).toBe(want[0]);
    expect(await rawOf(b, 'qcow2', path.join(tmp, 'b.out'))).toBe(want[1]);
    // Kept whole, nothing written, its servers stopped: \`v2v cleanup DIR\` refuses it the same way.
    expect((await readdir(other.dir)).filter((f) => f.endsWith('.overlay.qcow2')).sort()).toEqual(['in0.overlay.qcow2', 'in1.overlay.qcow2']);
    expect(await sha256File(other.a)).toBe(halfWritten);
    expect(processesUsing(parent)).toEqual([]);
    expectOneError(await v2v('cleanup', other.dir), "commit.json names disks 0, metadata.in's in-place disks differ");
  });

  test('an overlay whose backing file is another disk is refused: nothing written, the dir kept', async ({ tmp }) => {
    const { dir, a, before } = await prepared(tmp);
    const other = path.join(tmp, 'other.img');
    await makeRaw(other, 16, 3);
    const otherSum = await sha256File(other);
    // Overlay 0 replaced by one over another disk (what a tampered dir could try).
    const forged = path.join(tmp, 'forged.qcow2');
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', other, '-F', 'raw', forged]);
    await run(['mv', forged, path.join(dir, 'in0.overlay.qcow2')]);
    expectOneError(await v2v('convert', dir, '--no-convert'), `its overlay's backing file is ${other}, not the disk ${a}: refusing to write`);
    expect(await sha256File(a)).toBe(before[0]);
    expect(await sha256File(other)).toBe(otherSum);
    expectOk(await v2v('cleanup', dir), 'cleanup');
  });

  test('a disk on an NBD server (-i disk nbd+unix://) is committed there', async ({ tmp, nbdkit }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 16, 4);
    const ref = path.join(tmp, 'ref.img');
    await run(['cp', a, ref]);
    const before = await sha256File(a);
    const server = await nbdkit(['file', `file=${a}`]);
    const dir = path.join(tmp, 'wd');
    expectOk(await v2v('input', '-i', 'disk', server.uri, '--in-place', '--workdir', dir), 'input --in-place');
    await scribble(dir, 0, 0x50);
    await run(['qemu-io', '-f', 'raw', '-c', 'write -P 80 70000 5000', '-c', 'write -P 81 3M 1M', '-c', 'write -z 8M 1M', ref]);
    expect(await sha256File(a)).toBe(before);
    const xml = path.join(tmp, 'nbd.xml');
    expectOk(await v2v('convert', dir, '--no-convert', '-O', xml), 'convert');
    expect(await sha256File(a)).toBe(await sha256File(ref));
    // The XML names the NBD export, as libvirt describes one.
    expect(await readFile(xml, 'utf8')).toMatch(/<disk type='network' device='disk'>\s*<driver name='qemu' type='raw'\/>\s*<source protocol='nbd'>\s*<host transport='unix' socket='[^']*nbdkit0.sock'\/>/);
    expectOk(await v2v('cleanup', dir), 'cleanup');
  });

  test('options: --in-place takes no -o, only -i disk|libvirtxml|libvirt, not --no-convert; -O only with it', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 4, 1);
    expectOneError(await runCli(['--in-place', '-i', 'disk', a, '-o', 'local', '-os', tmp]), 'v2v: error: --in-place: -o, -os: no output options');
    expectOneError(await runCli(['--in-place', '-i', 'ova', a]), '--in-place: -i ova: only -i disk, -i libvirtxml and -i libvirt disks can be converted in place');
    expectOneError(await runCli(['--in-place', '--no-convert', '-i', 'disk', a]), '--in-place and --no-convert: nothing would be done');
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'null', '-O', path.join(tmp, 'x.xml')]), '-O: only with --in-place');
    expectOneError(await runCli(['--in-place', '-i', 'disk', a, '-O', path.join(tmp, 'nodir', 'x.xml')]), "-O ", 'its directory does not exist or is not writable');
  });
});
