// The two shapes an OVA comes in, seen the same way by the rest of the
// reader: an uncompressed tar (each member a byte range of the .ova, read in
// place) or a directory (an unpacked OVA, or a compressed one we unpacked).
// Both become a map from a checked relative name to where the bytes are.
//
// In a directory nothing is followed: symlinks are listed as such and refused
// when the OVF or manifest names them (or a path through them), and files
// are opened with O_NOFOLLOW, so a disk cannot point outside the directory.
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { asInputError, errnoText, ovaError, throwIfAborted } from './fail.js';
import { MAX_MEMBERS, checkName, listTar } from './tar.js';
import type { Bytes } from '../image-refs.js';

export interface ArchiveFile {
  kind: 'file' | 'symlink' | 'other';
  /** Absolute path of the file holding the bytes: the .ova itself, or the file in the directory. */
  path: string;
  offset: number;
  size: number;
}

export interface OvaArchive {
  /** What errors start with: the .ova path (or directory) as the user gave it. */
  label: string;
  kind: 'tar' | 'directory';
  /** By normalised relative name ("sub/disk1.vmdk"). */
  entries: Map<string, ArchiveFile>;
}

const CHUNK = 1024 * 1024;

/** The members of an uncompressed OVA: files and special members (refused if named), each name once; no directories. */
export async function openTarArchive(file: string, label: string, signal?: AbortSignal): Promise<OvaArchive> {
  const abs = path.resolve(file);
  const fh = await openOrFail(abs, label, '');
  try {
    const { size } = await fh.stat();
    const members = await listTar({ size, read: async (buf, pos) => (await fh.read(buf, 0, buf.length, pos)).bytesRead }, label, signal);
    const entries = new Map<string, ArchiveFile>();
    for (const m of members) {
      if (m.type === 'directory') continue;
      if (entries.has(m.name)) throw ovaError([label, `member ${m.name} appears twice: refused`]);
      entries.set(m.name, { kind: m.type === 'file' ? 'file' : 'other', path: abs, offset: m.offset, size: m.size });
    }
    return { label, kind: 'tar', entries };
  } catch (err) {
    throw asInputError(err, [label]);
  } finally {
    await fh.close();
  }
}

/** Every file, symlink and special file under `dir` (symlinks not followed). */
export async function openDirectoryArchive(dir: string, label: string, signal?: AbortSignal): Promise<OvaArchive> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (err) {
    throw ovaError([label, errnoText(err)], err);
  }
  const entries = new Map<string, ArchiveFile>();
  const dirs = [''];
  for (let seen = 0; dirs.length > 0; ) {
    throwIfAborted(signal);
    const rel = dirs.shift()!;
    try {
      seen = await listDir(root, rel, entries, dirs, seen, label);
    } catch (err) {
      throw asInputError(err, [label, rel]);
    }
  }
  return { label, kind: 'directory', entries };
}

/** One directory's entries into `entries`, its subdirectories onto `dirs`; returns the new count seen. */
async function listDir(root: string, rel: string, entries: Map<string, ArchiveFile>, dirs: string[], seen: number, label: string): Promise<number> {
  for (const d of await readdir(path.join(root, rel), { withFileTypes: true })) {
    if (++seen > MAX_MEMBERS) throw ovaError([label, `more than ${MAX_MEMBERS} files: refused`]);
    const name = rel ? `${rel}/${d.name}` : d.name;
    const abs = path.join(root, name);
    if (d.isDirectory()) dirs.push(name);
    else if (d.isSymbolicLink()) entries.set(name, { kind: 'symlink', path: abs, offset: 0, size: 0 });
    else if (d.isFile()) entries.set(name, { kind: 'file', path: abs, offset: 0, size: (await lstat(abs)).size });
    else entries.set(name, { kind: 'other', path: abs, offset: 0, size: 0 });
  }
  return seen;
}

/**
 * The regular file `raw` names (relative to the archive's top), undefined if
 * there is none; InputError if the name is unsafe or leads to a symlink or
 * a special file.
 */
export function lookup(a: OvaArchive, raw: string): { name: string; file: ArchiveFile } | undefined {
  const name = checkName(a.label, raw, 'file');
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const up = parts.slice(0, i).join('/');
    if (a.entries.get(up)?.kind === 'symlink') throw ovaError([a.label, `${name}: ${up} is a symlink: refused`]);
  }
  const file = a.entries.get(name);
  if (file?.kind === 'symlink') throw ovaError([a.label, `${name} is a symlink: refused`]);
  if (file?.kind === 'other') throw ovaError([a.label, `${name} is not a regular file: refused`]);
  return file && { name, file };
}

async function openOrFail(abs: string, label: string, name: string, nofollow = false): Promise<FileHandle> {
  try {
    return await open(abs, constants.O_RDONLY | (nofollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    throw ovaError([label, name, errnoText(err)], err);
  }
}

/**
 * Call `each` with the file's bytes, in order, up to `limit` bytes; the
 * data must be as long as listed (a file changed under us is an error).
 */
async function readChunks(a: OvaArchive, name: string, f: ArchiveFile, limit: number, each: (b: Buffer) => void, signal?: AbortSignal): Promise<void> {
  const fh = await openOrFail(f.path, a.label, name, a.kind === 'directory');
  try {
    const want = Math.min(f.size, limit);
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(want, 1)));
    for (let done = 0; done < want; ) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, want - done), f.offset + done);
      if (bytesRead === 0) throw ovaError([a.label, name, 'file ends early (changed while being read?)']);
      each(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
  } catch (err) {
    throw asInputError(err, [a.label, name]);
  } finally {
    await fh.close();
  }
}

/** The whole file; refused without reading if it is over `limit` bytes. */
export async function readSmallFile(a: OvaArchive, name: string, f: ArchiveFile, limit: number): Promise<Buffer> {
  if (f.size > limit) throw ovaError([a.label, name, `is ${f.size} bytes, more than the ${limit} allowed: refused`]);
  const parts: Buffer[] = [];
  await readChunks(a, name, f, limit, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

/** The first `n` bytes (fewer if the file is shorter). */
export async function readHead(a: OvaArchive, name: string, f: ArchiveFile, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  await readChunks(a, name, f, n, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

/** Random access to the file's bytes (for image headers), each read bounded by the file. */
export function memberBytes(a: OvaArchive, name: string, f: ArchiveFile): Bytes {
  return {
    size: f.size,
    read: async (offset, length) => {
      const buf = Buffer.alloc(Math.max(0, Math.min(length, f.size - offset)));
      const fh = await openOrFail(f.path, a.label, name, a.kind === 'directory');
      let done = 0;
      try {
        while (done < buf.length) {
          const { bytesRead } = await fh.read(buf, done, buf.length - done, f.offset + offset + done);
          if (bytesRead === 0) throw ovaError([a.label, name, 'file ends early (changed while being read?)']);
          done += bytesRead;
        }
      } catch (err) {
        throw asInputError(err, [a.label, name]);
      } finally {
        await fh.close();
      }
      return buf;
    },
  };
}

/** Hex digest of the file's bytes, read in 1 MiB steps that each check `signal`. */
export async function hashFile(a: OvaArchive, name: string, f: ArchiveFile, algorithm: string, signal?: AbortSignal): Promise<string> {
  const h = createHash(algorithm);
  await readChunks(a, name, f, f.size, (b) => h.update(b), signal);
  return h.digest('hex');
}

/** A directory file's path for the caller, checked again to have no symlink in it. */
export async function checkedPath(a: OvaArchive, name: string, f: ArchiveFile): Promise<string> {
  let real: string;
  try {
    real = await realpath(f.path);
  } catch (err) {
    throw ovaError([a.label, name, errnoText(err)], err);
  }
  if (real !== f.path) throw ovaError([a.label, `${name} resolves outside the directory or through a symlink: refused`]);
  return real;
}
