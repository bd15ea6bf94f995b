// libguestfs's socket dirs left by a killed virt-v2v-in-place
// (src/steps/convert/sockdir.ts): named from qemu's command line in the -v
// output, removed only while they are still what libguestfs made.
import { chmod, lstat, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { describe, expect } from 'vitest';
import { SOCKDIR_RECORD, SocketDirs, removeRecordedSocketDirs } from '../../../src/steps/convert/sockdir.js';
import { test } from '../../helpers/fixtures.js';

interface Line {
  msg: string;
  dir: string;
  err?: string;
}

/** A logger that keeps its lines. */
function keptLog(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  return { log, lines };
}

const qemuLine = (dir: string) => `    -chardev socket,path=${dir}/guestfsd.sock,id=channel0 \\`;

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** Listen on a Unix socket at FILE for the duration of FN, as qemu's socket is left when it is killed. */
async function withSocket<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(file, resolve));
  try {
    return await fn();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('libguestfs socket dirs of a killed conversion', () => {
  test('named from the qemu command line only, and recorded in the work dir', async ({ tmp }) => {
    const s = new SocketDirs(tmp);
    s.line('libguestfs: launch: tmpdir=/tmp/v2v-x/libguestfsAbC123');
    s.line('    -drive file=/tmp/libguestfsZZZZZZ/devnull1.img,cache=writeback \\');
    s.line(qemuLine('/tmp/libguestfsAbC123'));
    s.line(qemuLine('/tmp/libguestfsAbC123'));
    s.line(qemuLine('/tmp/../etc')); // not a name mkdtemp makes
    s.line('    -chardev socket,path=/tmp/libguestfsAbC12/guestfsd.sock,id=channel0 \\');
    expect(s.named).toEqual(['/tmp/libguestfsAbC123']);
    expect(await readFile(path.join(tmp, SOCKDIR_RECORD), 'utf8')).toBe('/tmp/libguestfsAbC123\n');
    expect((await lstat(path.join(tmp, SOCKDIR_RECORD))).mode & 0o777).toBe(0o600);
  });

  test('a dir holding only sockets is removed; one already gone is no matter', async ({ tmp }) => {
    const dir = path.join(tmp, 'libguestfsAbC123');
    const gone = path.join(tmp, 'libguestfsGone00');
    await mkdir(dir, { mode: 0o755 });
    const s = new SocketDirs(await mkdtemp(path.join(tmp, 'work-')));
    s.line(qemuLine(dir));
    s.line(qemuLine(gone));
    const { log, lines } = keptLog();
    await withSocket(path.join(dir, 'guestfsd.sock'), () => s.removeLeftovers(log));
    expect(await exists(dir)).toBe(false);
    expect(lines.map((l) => [l.msg, l.dir])).toEqual([['libguestfs socket dir left by a killed conversion: removed', dir]]);
  });

  test('a dir that is not what libguestfs made is left, with a warning naming why', async ({ tmp }) => {
    const withFile = path.join(tmp, 'libguestfsFile00');
    const open = path.join(tmp, 'libguestfsOpen00');
    const real = path.join(tmp, 'elsewhere');
    const link = path.join(tmp, 'libguestfsLink00');
    await Promise.all([mkdir(withFile, { mode: 0o700 }), mkdir(open), mkdir(real)]);
    await chmod(open, 0o777);
    await writeFile(path.join(withFile, 'data'), 'keep me');
    await symlink(real, link);
    const s = new SocketDirs(await mkdtemp(path.join(tmp, 'work-')));
    for (const d of [withFile, open, link]) s.line(qemuLine(d));
    const { log, lines } = keptLog();
    await s.removeLeftovers(log);
    expect(lines.map((l) => [l.dir, l.err])).toEqual([
      [withFile, 'holds data, which is not a socket'],
      [open, 'writable by others (mode 777)'],
      [link, 'not a directory'],
    ]);
    expect(await exists(path.join(withFile, 'data'))).toBe(true);
    expect(await exists(open)).toBe(true);
    expect(await exists(real)).toBe(true);
  });

  test('v2v cleanup after a crash: the recorded dirs in /tmp or $XDG_RUNTIME_DIR, and nothing else', async ({ tmp }) => {
    const runtime = path.join(tmp, 'run');
    const work = path.join(tmp, 'work');
    const dir = path.join(runtime, 'libguestfsAbC123');
    const elsewhere = path.join(tmp, 'libguestfsOther0');
    await Promise.all([mkdir(dir, { recursive: true }), mkdir(work), mkdir(elsewhere)]);
    const record = [dir, elsewhere, `${runtime}/../run/libguestfsAbC123`, '/etc', 'libguestfsRelat0'];
    await writeFile(path.join(work, SOCKDIR_RECORD), record.join('\n') + '\n', { mode: 0o600 });
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = runtime;
    try {
      const { log, lines } = keptLog();
      await withSocket(path.join(dir, 'guestfsd.sock'), () => removeRecordedSocketDirs(work, log));
      expect(await exists(dir)).toBe(false);
      expect(await exists(elsewhere)).toBe(true);
      expect(lines.map((l) => l.msg)).toEqual([
        'socket dir record: names outside /tmp/libguestfsXXXXXX; ignored',
        'libguestfs socket dir left by a killed conversion: removed',
      ]);
      // A record that is a symlink is not followed.
      const other = path.join(tmp, 'other');
      await writeFile(other, `${dir}\n`);
      await mkdir(dir);
      const linked = path.join(tmp, 'linked');
      await mkdir(linked);
      await symlink(other, path.join(linked, SOCKDIR_RECORD));
      await removeRecordedSocketDirs(linked, log);
      expect(await exists(dir)).toBe(true);
      expect(lines.at(-1)?.msg).toBe('socket dir record: not a file of ours; ignored');
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });
});
