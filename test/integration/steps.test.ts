// The step subcommands on a work dir, run as separate `v2v` processes the way
// another supervisor would run them:
//   DIR=$(v2v input ...); v2v convert DIR --no-convert; v2v output setup DIR ...;
//   v2v copy SOURCE TARGET --target-is-zero (per printed pair);
//   v2v output finalize DIR; v2v cleanup DIR
// The servers `input` and `output setup` start outlive their command; we check
// them through their pidfiles and /proc, the output bytes with qemu-img
// compare, and that every failure is one "v2v: ..." line leaving nothing.
import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { run, sha256File, makeRaw, processesUsing } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { comm, expectOk, gone, nonLogEntries, pairsOf, pidfiles, running, socketOf, test, v2v } from '../helpers/workdirs.js';
import { freePort } from '../../src/process/ports.js';
import { startNbdkit } from '../../src/process/server.js';

const MiB = 1024 * 1024;

/** A raw disk: SIZE MiB, some data at a few places, holes elsewhere. */
async function makeQcow2(dir: string, name: string, sizeMiB: number, seed: number): Promise<string> {
  const raw = path.join(dir, `${name}.raw`);
  const q = path.join(dir, `${name}.qcow2`);
  await makeRaw(raw, sizeMiB, seed);
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, q]);
  return q;
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy');

describe.skipIf(needs)('v2v step subcommands', () => {
  test('input, convert --no-convert, output setup -o local -of qcow2, parallel copies, finalize, cleanup', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 256, 1);
    const b = await makeQcow2(tmp, 'b', 128, 2);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const dir = path.join(tmp, 'wd');
    const before = [await sha256File(a), await sha256File(b)];

    // input
    const inp = await v2v('input', '-i', 'disk', a, b, '--workdir', dir);
    expectOk(inp, 'input');
    expect(inp.stdout).toBe(`${dir}\n`);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    // Each server's record (pid, start time, socket: src/process/server-record.ts) beside its pidfile.
    expect(await nonLogEntries(dir)).toEqual(['.v2v-workdir', 'in0', 'in0.pid', 'in0.server.json', 'in1', 'in1.pid', 'in1.server.json', 'job.json', 'metadata.in']);
    // Handed to its supervisor: never taken for a dead job's dir (v2v cleanup --stale).
    expect(JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8'))).toMatchObject({ kind: 'v2v-job', owner: 'supervisor' });
    expect((await readdir(dir)).includes('input.log')).toBe(true);
    expect((await lstat(path.join(dir, 'in0'))).isSocket()).toBe(true);
    expect((await lstat(path.join(dir, 'in1'))).isSocket()).toBe(true);
    const inPids = await pidfiles(dir);
    expect(Object.keys(inPids)).toEqual(['in0', 'in1']);
    expect(comm(inPids.in0!)).toBe('nbdkit'); // raw: nbdkit cow overlay
    expect(comm(inPids.in1!)).toBe('qemu-nbd'); // qcow2: qemu-nbd -s
    expect(running(inPids.in0!)).toBe(true);
    expect(running(inPids.in1!)).toBe(true);
    const metaIn = JSON.parse(await readFile(path.join(dir, 'metadata.in'), 'utf8')) as {
      name: string;
      disks: { index: number; socket: string; source: string; format: string; size: number }[];
    };
    expect(metaIn.name).toBe('a');
    expect(metaIn.disks).toHaveLength(2);
    expect(metaIn.disks[0]).toMatchObject({ index: 0, socket: 'in0', source: a, format: 'raw', size: 256 * MiB });
    expect(metaIn.disks[1]).toMatchObject({ index: 1, socket: 'in1', source: b, format: 'qcow2', size: 128 * MiB });

    // convert --no-convert
    const conv = await v2v('convert', dir, '--no-convert');
    expectOk(conv, 'convert');
    const metaOut = JSON.parse(await readFile(path.join(dir, 'metadata.out'), 'utf8')) as { disks: { index: number }[] };
    expect(metaOut.disks.map((d) => d.index)).toEqual([0, 1]);

    // output setup
    const setup = await v2v('output', 'setup', dir, '-o', 'local', '-of', 'qcow2', '-os', out, '-on', 'guest');
    expectOk(setup, 'output setup');
    const pairs = pairsOf(setup);
    expect(pairs.map(([s, t]) => [socketOf(s), socketOf(t)])).toEqual([
      [path.join(dir, 'in0'), path.join(dir, 'out0')],
      [path.join(dir, 'in1'), path.join(dir, 'out1')],
    ]);
    expect((await readdir(out)).sort()).toEqual(['.guest-sda.v2v-partial', '.guest-sdb.v2v-partial']);
    expect(JSON.parse(await readFile(path.join(dir, 'output.json'), 'utf8'))).toMatchObject({ state: 'setup' });
    const outPids = await pidfiles(dir);
    for (const n of ['out0', 'out1']) {
      expect(comm(outPids[n]!), n).toBe('qemu-nbd'); // -of qcow2
      expect(running(outPids[n]!), n).toBe(true);
    }

    // copies, concurrently
    const copies = await Promise.all(pairs.map(([s, t]) => v2v('copy', s, t, '--target-is-zero')));
    copies.forEach((c, i) => expectOk(c, `copy ${i}`));
    // Each copy recorded its completion in the work dir: finalize checks them.
    for (const i of [0, 1]) expect(JSON.parse(await readFile(path.join(dir, `copy${i}.json`), 'utf8'))).toMatchObject({ kind: 'v2v-copy', index: i, state: 'done' });

    // finalize
    const fin = await v2v('output', 'finalize', dir);
    expectOk(fin, 'output finalize');
    const files = [path.join(out, 'guest-sda'), path.join(out, 'guest-sdb'), path.join(out, 'guest.xml')];
    expect(fin.stdout).toBe(files.map((f) => `${f}\n`).join(''));
    expect((await readdir(out)).sort()).toEqual(['guest-sda', 'guest-sdb', 'guest.xml']);
    expect(running(outPids.out0!), 'out0 stopped by finalize').toBe(false);
    expect(running(outPids.out1!), 'out1 stopped by finalize').toBe(false);
    for (const f of files.slice(0, 2)) {
      const info = JSON.parse(await run(['qemu-img', 'info', '--output=json', f])) as { format: string };
      expect(info.format, f).toBe('qcow2');
    }
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', a, files[0]!]);
    await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'qcow2', b, files[1]!]);
    const xml = await readFile(files[2]!, 'utf8');
    expect(xml).toContain('<name>guest</name>');
    expect(xml).toContain(files[0]);
    expect(xml).toContain(files[1]);
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);

    // cleanup: the input servers run until now
    expect(running(inPids.in0!)).toBe(true);
    expect(running(inPids.in1!)).toBe(true);
    const clean = await v2v('cleanup', dir);
    expectOk(clean, 'cleanup');
    expect(clean.stdout).toBe('');
    expect(await gone(dir), 'work dir removed').toBe(true);
    for (const [n, pid] of Object.entries({ ...inPids, ...outPids })) expect(running(pid), `${n} (pid ${pid}) stopped`).toBe(false);
    expect(processesUsing(dir)).toEqual([]);
    // The finalized output is the user's: cleanup leaves it.
    expect((await readdir(out)).sort()).toEqual(['guest-sda', 'guest-sdb', 'guest.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', a, files[0]!]);
  });

  test('input without --workdir makes a private dir under $TMPDIR and prints it', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 64, 3);
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const inp = await runCli(['input', '-i', 'disk', a], { env: { TMPDIR: work } });
    expectOk(inp, 'input');
    expect(inp.stdout).toMatch(/^[^\n]+\n$/);
    const dir = inp.stdout.trimEnd();
    expect(path.isAbsolute(dir)).toBe(true);
    expect(path.dirname(dir)).toBe(work);
    expect(await readdir(work)).toEqual([path.basename(dir)]);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await nonLogEntries(dir)).toEqual(['.v2v-workdir', 'in0', 'in0.pid', 'in0.server.json', 'job.json', 'metadata.in']);
    expect((await lstat(path.join(dir, 'in0'))).isSocket()).toBe(true);
    const pids = await pidfiles(dir);
    expect(running(pids.in0!)).toBe(true);

    const clean = await v2v('cleanup', dir);
    expectOk(clean, 'cleanup');
    expect(await readdir(work)).toEqual([]);
    expect(running(pids.in0!)).toBe(false);
    expect(processesUsing(work)).toEqual([]);
  });

  test('cleanup after output setup without finalize removes the partial disks, servers and work dir', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const b = path.join(tmp, 'b.img');
    await makeRaw(a, 64, 4);
    await makeRaw(b, 96, 5);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const dir = path.join(tmp, 'wd');
    const before = [await sha256File(a), await sha256File(b)];

    expectOk(await v2v('input', '-i', 'disk', a, b, '--workdir', dir), 'input');
    expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
    const setup = await v2v('output', 'setup', dir, '-o', 'local', '-of', 'raw', '-os', out, '-on', 'guest');
    expectOk(setup, 'output setup');
    const pairs = pairsOf(setup);
    expect(pairs).toHaveLength(2);
    expect((await readdir(out)).sort()).toEqual(['.guest-sda.v2v-partial', '.guest-sdb.v2v-partial']);
    // A copy that went through: the partial disk holds data when cleanup comes.
    expectOk(await v2v('copy', pairs[0]![0], pairs[0]![1], '--target-is-zero'), 'copy');
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, '.guest-sda.v2v-partial')]);

    const pids = await pidfiles(dir);
    expect(Object.keys(pids)).toEqual(['in0', 'in1', 'out0', 'out1']);
    for (const [n, pid] of Object.entries(pids)) {
      expect(comm(pid), n).toBe('nbdkit'); // raw in, raw out
      expect(running(pid), n).toBe(true);
    }

    const clean = await v2v('cleanup', dir);
    expectOk(clean, 'cleanup');
    expect(await readdir(out)).toEqual([]);
    for (const [n, pid] of Object.entries(pids)) expect(running(pid), `${n} (pid ${pid}) stopped`).toBe(false);
    expect(await gone(dir)).toBe(true);
    expect(processesUsing(dir)).toEqual([]);
    expect(processesUsing(out)).toEqual([]);
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);
  });

  test('-o null: setup prints "SOURCE null:" per disk, copies go nowhere, finalize prints nothing', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 64, 6);
    const b = await makeQcow2(tmp, 'b', 64, 7);
    const dir = path.join(tmp, 'wd');
    const before = [await sha256File(a), await sha256File(b)];

    expectOk(await v2v('input', '-i', 'disk', a, b, '--workdir', dir), 'input');
    expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
    const setup = await v2v('output', 'setup', dir, '-o', 'null');
    expectOk(setup, 'output setup');
    const pairs = pairsOf(setup);
    expect(pairs.map(([s, t]) => [socketOf(s), t])).toEqual([
      [path.join(dir, 'in0'), 'null:'],
      [path.join(dir, 'in1'), 'null:'],
    ]);
    // No target disks, no target servers.
    expect((await readdir(dir)).filter((e) => /^out\d/.test(e))).toEqual([]);

    const copies = await Promise.all(pairs.map(([s, t]) => v2v('copy', s, t, '--target-is-zero')));
    copies.forEach((c, i) => expectOk(c, `copy ${i}`));

    const fin = await v2v('output', 'finalize', dir);
    expectOk(fin, 'output finalize');
    expect(fin.stdout).toBe('');

    const pids = await pidfiles(dir);
    expectOk(await v2v('cleanup', dir), 'cleanup');
    expect(await gone(dir)).toBe(true);
    for (const [n, pid] of Object.entries(pids)) expect(running(pid), `${n} (pid ${pid}) stopped`).toBe(false);
    expect(processesUsing(tmp)).toEqual([]);
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);
    // -o null wrote no file anywhere in tmp besides our own.
    expect((await readdir(tmp)).sort()).toEqual(['a.img', 'b.qcow2', 'b.raw']);
  });

  test('input -i libvirtxml with a local and a network (NBD) disk: its front and overlays detached, copied, cleaned up', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const b = path.join(tmp, 'b.img');
    await makeRaw(a, 64, 31);
    await makeRaw(b, 32, 32);
    const port = await freePort();
    const nbd = await startNbdkit(['file', `file=${b}`], { dir: tmp, name: 'remote', readonly: true, tcp: { host: '127.0.0.1', port } });
    try {
      const xml = path.join(tmp, 'g.xml');
      await writeFile(
        xml,
        `<domain><name>lx</name><devices>
  <disk type='file' device='disk'><source file='a.img'/><target dev='sda' bus='sata'/></disk>
  <disk type='network' device='disk'><driver type='raw'/><source protocol='nbd'><host name='127.0.0.1' port='${port}'/></source><target dev='sdb' bus='sata'/></disk>
</devices></domain>
`,
      );
      const dir = path.join(tmp, 'wd');
      const out = path.join(tmp, 'out');
      await mkdir(out);
      expectOk(await v2v('input', '-i', 'libvirtxml', xml, '--workdir', dir), 'input');
      const meta = JSON.parse(await readFile(path.join(dir, 'metadata.in'), 'utf8')) as { input: string; disks: { source: string; bus: string }[] };
      expect(meta.input).toBe('libvirtxml');
      expect(meta.disks.map((d) => d.bus)).toEqual(['sata', 'sata']);
      expect(meta.disks[1]!.source).toMatch(new RegExp(`^nbd://127\\.0\\.0\\.1:${port}`));
      // The NBD disk's read-only front runs detached next to the overlays.
      expect(Object.keys(await pidfiles(dir)).sort()).toEqual(['in0', 'in1', 'in1.src']);

      expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
      const setup = await v2v('output', 'setup', dir, '-o', 'local', '-os', out);
      expectOk(setup, 'output setup');
      const copies = await Promise.all(pairsOf(setup).map(([src, dst]) => v2v('copy', src, dst, '--target-is-zero')));
      copies.forEach((c, i) => expectOk(c, `copy ${i}`));
      expectOk(await v2v('output', 'finalize', dir), 'output finalize');
      const pids = await pidfiles(dir);
      expectOk(await v2v('cleanup', dir), 'cleanup');
      for (const [n, pid] of Object.entries(pids)) expect(running(pid), `${n} (pid ${pid}) stopped`).toBe(false);
      expect(await gone(dir)).toBe(true);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'lx-sda')]);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', b, path.join(out, 'lx-sdb')]);
    } finally {
      await nbd.stop();
    }
  });

  describe('bad input: exit 1, one line "v2v: ...", nothing left', () => {
    test('input of a missing disk: no work dir, no server', async ({ tmp }) => {
      const d = path.join(tmp, 'D');
      const r = await v2v('input', '-i', 'disk', path.join(tmp, 'MISSING.img'), '--workdir', d);
      expectOneError(r, /^v2v: error: input: .*MISSING\.img.*No such file or directory/);
      expect(await gone(d), 'work dir removed').toBe(true);
      expect(processesUsing(d)).toEqual([]);
      expect(await readdir(tmp)).toEqual([]);
    });

    test('input of a missing disk into the user\'s own empty --workdir: the directory stays, empty', async ({ tmp }) => {
      const d = path.join(tmp, 'mine');
      await mkdir(d, { mode: 0o700 });
      const r = await v2v('input', '-i', 'disk', path.join(tmp, 'MISSING.img'), '--workdir', d);
      expectOneError(r, /^v2v: error: input: .*MISSING\.img/);
      expect(await readdir(d)).toEqual([]);
    });

    test('input whose second disk fails: the first disk\'s server is not left running', async ({ tmp }) => {
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 64, 8);
      const before = await sha256File(a);

      // Missing: found when the disks are checked.
      const d1 = path.join(tmp, 'D1');
      const r1 = await v2v('input', '-i', 'disk', a, path.join(tmp, 'MISSING.img'), '--workdir', d1);
      expectOneError(r1, /^v2v: error: input: .*MISSING\.img.*No such file or directory/);
      expect(await gone(d1)).toBe(true);
      expect(processesUsing(d1)).toEqual([]);

      // A qcow2 whose backing file is missing: qemu-img info reads it, so
      // the raw disk's nbdkit (started first, in order) is running when
      // qemu-nbd fails on the second disk.
      const bk = path.join(tmp, 'bk.qcow2');
      await run(['qemu-img', 'create', '-q', '-u', '-f', 'qcow2', '-b', path.join(tmp, 'no-backing.img'), '-F', 'raw', bk, `${64 * MiB}`]);
      const d2 = path.join(tmp, 'D2');
      const r2 = await v2v('input', '-i', 'disk', a, bk, '--workdir', d2);
      expectOneError(r2, /^v2v: error: input: .*bk\.qcow2.*no-backing\.img/);
      expect(await gone(d2)).toBe(true);
      expect(processesUsing(tmp)).toEqual([]);
      expect(await sha256File(a)).toBe(before);
    });

    test('convert on a path that does not exist, or is a file', async ({ tmp }) => {
      const missing = path.join(tmp, 'NOTADIR');
      expectOneError(await v2v('convert', missing, '--no-convert'), /NOTADIR.*does not exist/);
      expect(await gone(missing)).toBe(true);
      const file = path.join(tmp, 'file');
      await writeFile(file, 'just a file\n');
      expectOneError(await v2v('convert', file, '--no-convert'), /file.*not a directory/);
      expect(await readFile(file, 'utf8')).toBe('just a file\n');
      expect((await readdir(tmp)).sort()).toEqual(['file']);
    });

    test('convert (and cleanup) on an ordinary directory: refused, it is not a work dir', async ({ tmp }) => {
      const plain = path.join(tmp, 'plain');
      await mkdir(plain, { mode: 0o700 });
      expectOneError(await v2v('convert', plain, '--no-convert'), /plain.*\.v2v-workdir/);
      expect(await readdir(plain)).toEqual([]);
      // cleanup removes whole directories: above all it must refuse this one.
      expectOneError(await v2v('cleanup', plain), /plain.*\.v2v-workdir/);
      expect(await readdir(plain)).toEqual([]);
    });

    test('output finalize before output setup', async ({ tmp }) => {
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 64, 9);
      const dir = path.join(tmp, 'wd');
      expectOk(await v2v('input', '-i', 'disk', a, '--workdir', dir), 'input');
      expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
      const entries = await nonLogEntries(dir);
      const pids = await pidfiles(dir);

      expectOneError(await v2v('output', 'finalize', dir), /output\.json|output setup/);
      // The work dir is as it was (logs aside), its input server still runs.
      expect(await nonLogEntries(dir)).toEqual(entries);
      expect(running(pids.in0!)).toBe(true);

      expectOk(await v2v('cleanup', dir), 'cleanup');
      expect(await gone(dir)).toBe(true);
      expect(running(pids.in0!)).toBe(false);
    });

    test('output setup twice: the second is refused, the first setup is untouched and still finalizes', async ({ tmp }) => {
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 64, 10);
      const out = path.join(tmp, 'out');
      const out2 = path.join(tmp, 'out2');
      await mkdir(out);
      await mkdir(out2);
      const dir = path.join(tmp, 'wd');
      expectOk(await v2v('input', '-i', 'disk', a, '--workdir', dir), 'input');
      expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
      const setup = await v2v('output', 'setup', dir, '-o', 'local', '-os', out);
      expectOk(setup, 'output setup');
      const partial = path.join(out, '.a-sda.v2v-partial');
      const st = await stat(partial);
      const sum = await sha256File(partial);
      const state = await readFile(path.join(dir, 'output.json'), 'utf8');
      const pids = await pidfiles(dir);
      expect(running(pids.out0!)).toBe(true);

      // Same output again, and another one: both refused.
      expectOneError(await v2v('output', 'setup', dir, '-o', 'local', '-os', out), /output setup.*already/);
      expectOneError(await v2v('output', 'setup', dir, '-o', 'local', '-os', out2), /output setup.*already/);
      expect(await readdir(out)).toEqual(['.a-sda.v2v-partial']);
      expect(await readdir(out2)).toEqual([]);
      const st2 = await stat(partial);
      expect([st2.ino, st2.size, st2.mtimeMs]).toEqual([st.ino, st.size, st.mtimeMs]);
      expect(await sha256File(partial)).toBe(sum);
      expect(await readFile(path.join(dir, 'output.json'), 'utf8')).toBe(state);
      expect(await pidfiles(dir)).toEqual(pids);
      for (const [n, pid] of Object.entries(pids)) expect(running(pid), n).toBe(true);

      // The first setup goes on as if nothing happened.
      const [[s, t]] = pairsOf(setup) as [[string, string]];
      expectOk(await v2v('copy', s, t, '--target-is-zero'), 'copy');
      const fin = await v2v('output', 'finalize', dir);
      expectOk(fin, 'output finalize');
      expect(fin.stdout).toBe(`${path.join(out, 'a-sda')}\n${path.join(out, 'a.xml')}\n`);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'a-sda')]);
      expectOk(await v2v('cleanup', dir), 'cleanup');
      expect(await gone(dir)).toBe(true);
      expect(processesUsing(tmp)).toEqual([]);
    });

    test('input --workdir on an existing empty directory: the dir is the user\'s, cleanup empties it and leaves it', async ({ tmp }) => {
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 16, 12);
      const mine = path.join(tmp, 'mine');
      await mkdir(mine, { mode: 0o700 });
      expectOk(await v2v('input', '-i', 'disk', a, '--workdir', mine), 'input');
      expect(processesUsing(mine).length).toBeGreaterThan(0);
      expect(await readdir(mine)).toContain('metadata.in');
      expectOk(await v2v('cleanup', mine), 'cleanup');
      expect(await readdir(mine)).toEqual([]);
      expect((await stat(mine)).mode & 0o777).toBe(0o700);
      expect(processesUsing(tmp)).toEqual([]);
    });

    test('input --workdir on an existing non-empty directory: refused, its files untouched', async ({ tmp }) => {
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 64, 11);
      const ne = path.join(tmp, 'ne');
      await mkdir(ne, { mode: 0o700 });
      await writeFile(path.join(ne, 'keep'), 'precious\n');
      const st = await stat(path.join(ne, 'keep'));

      expectOneError(await v2v('input', '-i', 'disk', a, '--workdir', ne), /ne.*(not an empty|not empty)/);
      expect(await readdir(ne)).toEqual(['keep']);
      expect(await readFile(path.join(ne, 'keep'), 'utf8')).toBe('precious\n');
      expect((await stat(path.join(ne, 'keep'))).mtimeMs).toBe(st.mtimeMs);
      expect((await stat(ne)).mode & 0o777).toBe(0o700);
      expect(processesUsing(tmp)).toEqual([]);
    });
  });
});
