// Local output disks as virt-v2v names and makes them: DIR/NAME-sda,
// NAME-sdb, ... created by `qemu-img create` under a hidden partial name
// (.NAME-sda.v2v-partial) and served on the work dir's out<N> socket, raw by
// nbdkit's file plugin, qcow2 by qemu-nbd. Finalize moves them to their final
// names without ever replacing a file that appeared meanwhile.
import { spawn, type ChildProcess } from 'node:child_process';
import { link, open, rename, unlink, lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { InputError, ProcessError } from '../../errors.js';
import { startNbdkit, startQemuNbd, type Server } from '../../process/server.js';
import type { WorkDir } from '../../workdir/workdir.js';
import { driveName } from '../../util/drive-name.js';
import { compressedImageOpts } from './compressed.js';
import { diskBaseName } from './disk-names.js';

export { driveName };

export interface DiskPaths {
  index: number;
  /** DIR/NAME-sdX, absolute. */
  final: string;
  /** DIR/.NAME-sdX.v2v-partial, absolute, in the same directory (rename stays atomic). */
  partial: string;
}

// Absolute paths always: qemu-img, qemu-nbd and nbdkit would read a relative
// "nbd:x" or "json:{...}" as a protocol, and a leading "-" as an option.
export function diskPaths(storage: string, name: string, index: number, pattern?: string): DiskPaths {
  const dir = path.resolve(storage);
  const base = diskBaseName(name, index, pattern);
  const final = path.join(dir, base);
  return { index, final, partial: partialOf(final) };
}

export const PARTIAL_SUFFIX = '.v2v-partial';

/** The hidden name FILE has until it is complete: DIR/.BASE.v2v-partial. */
export function partialOf(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}${PARTIAL_SUFFIX}`);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Create FILE empty, failing if anything has that name: the name is ours
 * from here on, so removing it later can never remove a user's file.
 */
export async function reserve(file: string, mode = 0o644): Promise<void> {
  try {
    const fh = await open(file, 'wx', mode);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InputError(
        `${file} already exists (a leftover of an interrupted conversion?): remove it, or choose another name with -on`,
      );
    }
    throw new InputError(`cannot create ${file}: ${(err as Error).message}`);
  }
}

/** Run a short command; its child is in `children` while it runs so that an abort can kill it. */
export function runTool(argv: string[], children: Set<ChildProcess>, log: Logger): Promise<string> {
  return new Promise((resolve, reject) => {
    log.debug({ argv }, 'run');
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    c.on('error', (e) => {
      children.delete(c);
      reject(new ProcessError(`cannot run ${argv[0]}: ${e.message}`, { command: argv.join(' ') }));
    });
    c.on('close', (code, signal) => {
      children.delete(c);
      if (code === 0) return resolve(out);
      const tail = err.trim();
      reject(
        new ProcessError(`${argv[0]} failed (${signal ?? `status ${code}`}): ${tail || 'no message'}`, {
          command: argv.join(' '),
          stderrTail: tail,
          ...(code !== null ? { exitCode: code } : {}),
          ...(signal ? { signal } : {}),
        }),
      );
    });
  });
}

/** `qemu-img create` over an existing (reserved) file: it truncates and formats it. */
export async function createDisk(
  file: string,
  format: 'raw' | 'qcow2',
  allocation: 'sparse' | 'preallocated',
  size: number,
  children: Set<ChildProcess>,
  log: Logger,
): Promise<void> {
  // virt-v2v: -oa preallocated is preallocation=full for both formats.
  const prealloc = allocation === 'preallocated' ? ['-o', 'preallocation=full'] : [];
  await runTool(['qemu-img', 'create', '-q', '-f', format, ...prealloc, file, String(size)], children, log);
}

export function serveDisk(
  file: string,
  format: 'raw' | 'qcow2' | 'compressed-qcow2',
  index: number,
  workdir: WorkDir,
  log: Logger,
  signal: AbortSignal,
  detach = false,
): Promise<Server> {
  const opts = { dir: workdir.path, name: `out${index}`, socket: workdir.outSocket(index), log, signal, detach };
  if (format === 'raw') return startNbdkit(['file', `file=${file}`, 'cache=none'], opts);
  if (format === 'compressed-qcow2') return startQemuNbd(compressedImageOpts(file), { ...opts, imageOpts: true });
  return startQemuNbd(file, { ...opts, format: 'qcow2' });
}

/** fsync a file (or directory), so a rename that follows is not ahead of the data. */
export async function fsyncPath(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Move FROM to TO, refusing to replace TO (rename(2) would silently).
 * link + unlink is atomic against a concurrent creator of TO; filesystems
 * without hard links get a check then rename.
 */
export async function renameNoReplace(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new InputError(`${to} already exists: not overwriting it`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK') {
      throw err;
    }
    if (await exists(to)) throw new InputError(`${to} already exists: not overwriting it`);
    await rename(from, to);
    return;
  }
  await unlink(from);
}

/** Write a whole file under its partial name, synced, then move it into place (no replace). */
export async function writeFileNoReplace(file: string, content: string, mode: number, onReserved: (p: string) => void): Promise<void> {
  const partial = partialOf(file);
  const fh = await open(partial, 'wx', mode).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new InputError(`${partial} already exists (a leftover of an interrupted conversion?): remove it`);
    throw err;
  });
  onReserved(partial);
  try {
    await fh.writeFile(content, 'utf8');
    // The umask applies to open's mode; the script must be 0755 whatever it is.
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await renameNoReplace(partial, file);
}
