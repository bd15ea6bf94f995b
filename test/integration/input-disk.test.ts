// The -i disk input step with real servers: raw (nbdkit cow) and qcow2
// (qemu-nbd -s) overlays serve the source's bytes, keep writes out of the
// source file, metadata.in says what was served, and every failure is one
// InputError naming the disk with no server left running.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { describe, expect } from 'vitest';
import { MetadataIn } from '../../src/metadata/schema.js';
import { NbdHandle } from '../../src/nbd/handle.js';
import type { Server } from '../../src/process/server.js';
import { planSource } from '../../src/steps/input/plan.js';
import { serveAll } from '../../src/steps/input/step.js';
import { createWorkDir, type WorkDir } from '../../src/workdir/workdir.js';
import { test as base, readAll, run, sha256, sha256File } from '../helpers/fixtures.js';
import { alive, has, rejectionOf } from '../helpers/tools.js';

const MiB = 1024 * 1024;

interface InputDiskOptions {
  files: string[];
  format?: string;
  name?: string;
  log: Logger;
  signal?: AbortSignal;
  workdir: WorkDir;
}
interface InputResult {
  metadata: MetadataIn;
  servers: Server[];
}

/** The input step for `-i disk` in this thread: the plan, then every disk served (as `v2v input` does). */
async function inputDisk(o: InputDiskOptions): Promise<InputResult> {
  const signal = o.signal ?? new AbortController().signal;
  const ctx = { workdir: o.workdir, log: o.log, signal, warn: () => {}, detach: false };
  const input = { type: 'disk' as const, files: o.files, ...(o.format ? { format: o.format } : {}) };
  const plan = await planSource({ input, network: { bridges: [], networks: [], macs: [] }, log: o.log, signal });
  const { metadata, served } = await serveAll(ctx, plan, o.name);
  return { metadata, servers: served.map((s) => s.server) };
}

// `input` runs inputDisk and stops its servers after the test; `open` gives
// NbdHandles closed first (nbdkit 1.32 ignores SIGTERM while a client is
// connected), which the fixture order guarantees: open depends on input.
const test = base.extend<{
  wd: WorkDir;
  input: (o: Omit<InputDiskOptions, 'workdir' | 'log'> & { log?: Logger }) => Promise<InputResult>;
  open: () => NbdHandle;
}>({
  wd: async ({ tmp }, use) => {
    await use(await createWorkDir(tmp));
  },
  input: async ({ wd, task }, use) => {
    const servers: Server[] = [];
    await use(async (o) => {
      const r = await inputDisk({ log: pino({ level: 'silent' }), ...o, workdir: wd });
      servers.push(...r.servers);
      return r;
    });
    if (task.result?.state === 'fail') for (const s of servers) if (s.stderrTail()) console.error(s.stderrTail());
    await Promise.all(servers.map((s) => s.stop()));
  },
  open: async ({ input }, use) => {
    void input;
    const handles: NbdHandle[] = [];
    await use(() => {
      const h = new NbdHandle('input-test');
      handles.push(h);
      return h;
    });
    for (const h of handles) h.close();
  },
});

/** A raw file of SIZE random bytes; returns its path and contents. */
async function rawFile(dir: string, name: string, size = 4 * MiB): Promise<{ file: string; data: Buffer }> {
  const data = randomBytes(size);
  const file = path.join(dir, name);
  await writeFile(file, data);
  return { file, data };
}

async function qcow2From(raw: string, out: string): Promise<string> {
  await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
  return out;
}

/** A logger whose lines land in LINES (and call onLine, if given). */
function capture(lines: Record<string, unknown>[], onLine?: (l: Record<string, unknown>) => void): Logger {
  return pino({ level: 'info' }, {
    write(s: string) {
      const l = JSON.parse(s) as Record<string, unknown>;
      lines.push(l);
      onLine?.(l);
    },
  });
}

/** Files the process has open that live in DIR (deleted ones included). */
async function openFilesIn(pid: number, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith(`${dir}/`)) out.push(target);
  }
  return out;
}

describe.skipIf(!has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy'))('input -i disk', () => {
  test('raw: nbdkit cow overlay on in0 serves the source bytes; metadata.in has virt-v2v defaults', async ({ tmp, wd, input }) => {
    const { file, data } = await rawFile(tmp, 'guest.img');
    const lines: Record<string, unknown>[] = [];
    const r = await input({ files: [file], log: capture(lines) });

    expect(r.servers).toHaveLength(1);
    const s = r.servers[0]!;
    expect(s.socket).toBe(wd.inSocket(0));
    expect(path.basename(s.socket)).toBe('in0');
    expect(s.command[0]).toBe('nbdkit');
    expect(s.command).toContain('--filter=cow');
    expect(s.command).toContain(`file=${file}`);
    expect(s.command).toContain('cache=none');
    expect(sha256(await readAll(s.uri))).toBe(sha256(data));

    const onDisk = MetadataIn.parse(JSON.parse(await readFile(wd.metadataIn, 'utf8')));
    expect(onDisk).toEqual(r.metadata);
    expect(onDisk).toMatchObject({
      name: 'guest',
      input: 'disk',
      memory: 2147483648,
      vcpus: 1,
      firmware: 'unknown',
      disks: [{ index: 0, socket: 'in0', source: file, format: 'raw', size: 4 * MiB, bus: 'unknown' }],
      nics: [{ vnet: 'default', vnetType: 'network' }],
    });

    const line = lines.find((l) => l.disk === 'in0');
    expect(line).toMatchObject({ format: 'raw', size: 4 * MiB, pid: s.pid });
    expect(line?.msg).toContain('nbdkit');
    expect(line?.command).toEqual(s.command);
  });

  test('raw: writes land in the overlay, the source file is unchanged', async ({ tmp, input, open }) => {
    const { file, data } = await rawFile(tmp, 'w.img');
    const before = await sha256File(file);
    const r = await input({ files: [file] });
    const h = open();
    await h.connect({ unix: r.servers[0]!.socket });
    const patch = randomBytes(64 * 1024);
    await h.pwrite(patch, MiB);
    const back = Buffer.alloc(patch.length);
    await h.pread(back, MiB);
    expect(back.equals(patch)).toBe(true);
    await h.flush();
    h.close();

    const served = await readAll(r.servers[0]!.uri);
    expect(served.subarray(MiB, MiB + patch.length).equals(patch)).toBe(true);
    expect(served.subarray(0, MiB).equals(data.subarray(0, MiB))).toBe(true);
    expect(await sha256File(file)).toBe(before);
  });

  test('qcow2: detected, served raw by qemu-nbd -s; writes never reach the file', async ({ tmp, input, open }) => {
    const { file: raw, data } = await rawFile(tmp, 'src.raw', 3 * MiB);
    const qcow = await qcow2From(raw, path.join(tmp, 'vm.disk.qcow2'));
    const before = await sha256File(qcow);
    const r = await input({ files: [qcow] });
    const s = r.servers[0]!;
    expect(s.command[0]).toBe('qemu-nbd');
    expect(s.command).toContain('-s');
    expect(s.command.join(' ')).toContain('--format qcow2');
    // virt-v2v's chop_extension removes the last extension only.
    expect(r.metadata.name).toBe('vm.disk');
    expect(r.metadata.disks[0]).toMatchObject({ format: 'qcow2', size: 3 * MiB, source: qcow, socket: 'in0' });
    expect(sha256(await readAll(s.uri))).toBe(sha256(data));

    const h = open();
    await h.connect({ unix: s.socket });
    const patch = randomBytes(8192);
    await h.pwrite(patch, 4096);
    const back = Buffer.alloc(patch.length);
    await h.pread(back, 4096);
    expect(back.equals(patch)).toBe(true);
    await h.flush();
    h.close();
    expect((await readAll(s.uri)).subarray(4096, 4096 + patch.length).equals(patch)).toBe(true);
    expect(await sha256File(qcow)).toBe(before);
  });

  test('overlay data is kept in the private work dir (TMPDIR)', async ({ tmp, wd, input }) => {
    const { file: raw } = await rawFile(tmp, 'a.img', MiB);
    const qcow = await qcow2From(raw, path.join(tmp, 'b.qcow2'));
    const r = await input({ files: [raw, qcow] });
    for (const s of r.servers) {
      // Both servers create their overlay file and unlink it at once; the
      // open fd still shows where it was.
      const inDir = await openFilesIn(s.pid, wd.path);
      expect(inDir.length, s.command.join(' ')).toBeGreaterThan(0);
    }
  });

  test('two disks: in0 and in1, each with its own bytes, name from the first', async ({ tmp, wd, input }) => {
    const a = await rawFile(tmp, 'first.img', 2 * MiB);
    const b = await rawFile(tmp, 'second.raw', 5 * MiB);
    const bq = await qcow2From(b.file, path.join(tmp, 'second.qcow2'));
    const lines: Record<string, unknown>[] = [];
    const r = await input({ files: [a.file, bq], log: capture(lines) });
    expect(r.servers.map((s) => s.socket)).toEqual([wd.inSocket(0), wd.inSocket(1)]);
    expect(r.metadata.name).toBe('first');
    expect(r.metadata.disks.map((d) => [d.index, d.socket, d.format, d.size])).toEqual([
      [0, 'in0', 'raw', 2 * MiB],
      [1, 'in1', 'qcow2', 5 * MiB],
    ]);
    expect(sha256(await readAll(r.servers[0]!.uri))).toBe(sha256(a.data));
    expect(sha256(await readAll(r.servers[1]!.uri))).toBe(sha256(b.data));
    expect(lines.filter((l) => typeof l.disk === 'string').map((l) => [l.disk, l.format])).toEqual([
      ['in0', 'raw'],
      ['in1', 'qcow2'],
    ]);
    expect(MetadataIn.parse(JSON.parse(await readFile(wd.metadataIn, 'utf8'))).disks).toHaveLength(2);
  });

  test('-if raw on a qcow2 file serves the file as it is; name overrides the default', async ({ tmp, input }) => {
    const { file: raw } = await rawFile(tmp, 'x.raw', MiB);
    const qcow = await qcow2From(raw, path.join(tmp, 'x.qcow2'));
    const r = await input({ files: [qcow], format: 'raw', name: 'renamed' });
    expect(r.metadata.name).toBe('renamed');
    expect(r.metadata.disks[0]!.format).toBe('raw');
    expect(r.servers[0]!.command[0]).toBe('nbdkit');
    const served = await readAll(r.servers[0]!.uri);
    expect(sha256(served)).toBe(await sha256File(qcow));
    expect(served.subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
  });

  describe('failures: one InputError naming the disk, nothing left behind', () => {
    async function expectInputError(p: Promise<unknown>, disk: string, why: RegExp, wd: WorkDir): Promise<void> {
      const err = await rejectionOf(p);
      expect(err.code).toBe('INPUT_ERROR');
      expect(err.name).toBe('InputError');
      expect(err.step).toBe('input');
      expect(err.message).toContain(`input: disk ${disk}: `);
      expect(err.message).toMatch(why);
      expect(err.message).not.toContain('\n');
      expect(existsSync(wd.metadataIn)).toBe(false);
      expect(existsSync(wd.inSocket(0))).toBe(false);
    }

    test('missing file', async ({ tmp, wd, input }) => {
      const f = path.join(tmp, 'nope.img');
      await expectInputError(input({ files: [f] }), f, /: No such file or directory$/, wd);
    });

    test('a directory', async ({ tmp, wd, input }) => {
      const d = path.join(tmp, 'adir');
      await mkdir(d);
      await expectInputError(input({ files: [d] }), d, /Is a directory/, wd);
    });

    test('a FIFO is neither a regular file nor a block device', async ({ tmp, wd, input }) => {
      const f = path.join(tmp, 'fifo');
      await run(['mkfifo', f]);
      await expectInputError(input({ files: [f] }), f, /not a regular file or block device/, wd);
    });

    // Root reads a mode-000 file, and passes through a mode-000 directory,
    // so there is no unreadable file to test with when the tests run as root.
    test.skipIf(process.getuid?.() === 0)('an unreadable file', async ({ tmp, wd, input }) => {
      const { file } = await rawFile(tmp, 'secret.img', MiB);
      await chmod(file, 0o000);
      await expectInputError(input({ files: [file] }), file, /Permission denied/, wd);
    });

    test('-if qcow2 on a raw file: qemu-img refuses it', async ({ tmp, wd, input }) => {
      const { file } = await rawFile(tmp, 'plain.img', MiB);
      await expectInputError(input({ files: [file], format: 'qcow2' }), file, /qemu-img info: .*not in qcow2 format/, wd);
    });

    test('every disk is checked before any server starts', async ({ tmp, wd, input }) => {
      const { file } = await rawFile(tmp, 'ok.img', MiB);
      const missing = path.join(tmp, 'missing.img');
      const lines: Record<string, unknown>[] = [];
      await expectInputError(input({ files: [file, missing], log: capture(lines) }), missing, /No such file/, wd);
      expect(lines.filter((l) => l.disk === 'in0')).toEqual([]);
    });

    test('the second server fails (image locked by another qemu-nbd): the first server is stopped', async ({
      tmp,
      wd,
      input,
      qemuNbd,
    }) => {
      const { file: first } = await rawFile(tmp, 'first.img', MiB);
      const { file: raw } = await rawFile(tmp, 'second.raw', MiB);
      const locked = await qcow2From(raw, path.join(tmp, 'second.qcow2'));
      // A writable qemu-nbd holds the image's write lock, as a running VM would.
      await qemuNbd(locked, { format: 'qcow2', name: 'holder' });
      const lines: Record<string, unknown>[] = [];
      const err = await rejectionOf(input({ files: [first, locked], log: capture(lines) }));
      expect(err.code).toBe('PROCESS_ERROR');
      expect(err.step).toBe('input');
      expect(err.disk).toBe('in1');
      expect(err.message).toContain(`input: disk ${locked}: `);
      expect(err.message).toMatch(/lock/);
      expect(err.message).not.toContain('\n');
      const pid = lines.find((l) => l.disk === 'in0')?.pid;
      expect(typeof pid).toBe('number');
      expect(alive(pid as number)).toBe(false);
      expect(existsSync(wd.metadataIn)).toBe(false);
    });
  });

  describe('cancellation', () => {
    test('an aborted signal starts nothing', async ({ tmp, wd, input }) => {
      const { file } = await rawFile(tmp, 'a.img', MiB);
      const err = await rejectionOf(input({ files: [file], signal: AbortSignal.abort() }));
      expect(err.code).toBe('ABORT_ERR');
      expect(existsSync(wd.inSocket(0))).toBe(false);
    });

    test('abort after the first server started: it is stopped, AbortError', async ({ tmp, wd, input }) => {
      const { file: a } = await rawFile(tmp, 'a.img', MiB);
      const { file: b } = await rawFile(tmp, 'b.img', MiB);
      const ac = new AbortController();
      const lines: Record<string, unknown>[] = [];
      const log = capture(lines, (l) => {
        if (l.disk === 'in0') ac.abort();
      });
      const err = await rejectionOf(input({ files: [a, b], log, signal: ac.signal }));
      expect(err.code).toBe('ABORT_ERR');
      const pid = lines.find((l) => l.disk === 'in0')?.pid;
      expect(typeof pid).toBe('number');
      expect(alive(pid as number)).toBe(false);
      expect(lines.some((l) => l.disk === 'in1')).toBe(false);
      expect(existsSync(wd.metadataIn)).toBe(false);
    });
  });
});
