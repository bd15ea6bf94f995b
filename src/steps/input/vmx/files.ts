// File access for the -i vmx parser, where every name comes from a hostile
// file: names are resolved inside the .vmx's directory (lexically, then
// again after symbolic links), files are opened without blocking (a FIFO
// named disk.vmdk must not hang us) and must be regular files, and reads
// are bounded. Failures become the caller's InputError through `fail`.
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { InputError } from '../../../errors.js';
import { errnoText } from '../../../util/errno.js';

export { errnoText };
import { show } from './fail.js';

/** Makes the caller's error from what went wrong ("x.vmdk: No such file or directory"). */
export type Fail = (why: string, cause?: unknown) => InputError;



/** Where names may point: the .vmx's directory, as given and after symbolic links. */
export interface Scope {
  /** The .vmx file, for messages. */
  vmx: string;
  /** Absolute, as given (may go through symbolic links). */
  dir: string;
  /** realpath(dir). */
  realDir: string;
}

/** Whether `p` is `root` or below it; both absolute and normalised. */
export function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`));
}

/**
 * The real path of `name` (from the file), refused if it leaves the scope's
 * directory. Without `base`, `name` comes from the .vmx and is resolved
 * against scope.dir; with it (a real directory inside scope.realDir, where a
 * descriptor lives), against `base`.
 */
export async function resolveInside(scope: Scope, name: string, fail: Fail, base?: string): Promise<string> {
  // Refused before any file system call: whether a file outside exists is
  // none of the .vmx's business. Either spelling of the directory is fine.
  const lexical = resolveLexically(scope, name, fail, base);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err) {
    throw fail(`${show(name)}: ${errnoText(err)}`, err);
  }
  if (!inside(scope.realDir, real)) throw fail(`${escapesMessage(scope, name)} (through a symbolic link)`);
  return real;
}

function escapesMessage(scope: Scope, name: string): string {
  return `${show(name)} escapes the directory of ${show(path.basename(scope.vmx))}`;
}

/**
 * The first half of resolveInside, without the file system: `name` resolved
 * against `base` (default scope.dir), refused unless it stays in scope.dir
 * or scope.realDir. All that can be checked of a remote file (-it ssh).
 */
export function resolveLexically(scope: Scope, name: string, fail: Fail, base?: string): string {
  if (name.includes('\0')) throw fail(`${show(name)} holds a NUL character`);
  const lexical = path.resolve(base ?? scope.dir, name);
  if (!inside(scope.dir, lexical) && !inside(scope.realDir, lexical)) throw fail(escapesMessage(scope, name));
  return lexical;
}

/** An open regular file and its size (fstat, before any read). */
export interface Opened {
  handle: FileHandle;
  size: number;
}

/** Open `file` for reading; refused unless it is a regular file. The caller closes it. */
export async function openRegular(file: string, fail: Fail): Promise<Opened> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw fail('Is a directory');
    if (!st.isFile()) throw fail('not a regular file');
    return { handle, size: st.size };
  } catch (err) {
    await handle.close();
    if ((err as InputError).code === 'INPUT_ERROR') throw err;
    throw fail(errnoText(err), err);
  }
}

/** Up to `length` bytes at `offset`; fewer at the end of the file. */
export async function readAt(opened: Opened, offset: number, length: number, fail: Fail): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  try {
    while (done < length) {
      const { bytesRead } = await opened.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  return buf.subarray(0, done);
}
