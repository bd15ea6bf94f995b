// A zip file given as an OVA (not in the OVF spec, but shipped: virt-v2v
// accepts it and runs `unzip -j` into a temp dir). We read the zip
// ourselves, as we read tars: the central directory is parsed and every
// entry checked before anything is written (names as for tar members: no
// absolute names, no '..', no NUL; backslashes read as '/', as unzip does;
// symlinks, encrypted entries, other compression methods than stored and
// deflate, entries whose data overlap or run past the central directory
// all refused), then only regular files and directories are created, each
// file's size and CRC-32 checked. Paths are kept (virt-v2v junks them).
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import { asInputError, ovaError, throwIfAborted } from './fail.js';
import { MAX_MEMBERS, checkName } from './tar.js';

/** A central directory bigger than this is not an OVA's (a handful of files). */
const MAX_CD = 16 * 1024 * 1024;
const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const LOCATOR64 = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32 = 0xffffffff;

export interface ZipEntry {
  /** Checked and normalised, as tar.ts's checkName gives it. */
  name: string;
  type: 'file' | 'directory' | 'other';
  method: number;
  crc: number;
  csize: number;
  usize: number;
  /** Where the local header is, and where its data starts (read from the local header). */
  header: number;
  data: number;
}

async function readAt(fh: FileHandle, pos: number, n: number, fail: (why: string) => Error): Promise<Buffer> {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
    if (bytesRead === 0) throw fail(`truncated zip file (wanted ${n} bytes at offset ${pos})`);
    got += bytesRead;
  }
  return buf;
}

function big(b: Buffer, at: number, fail: (why: string) => Error): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('zip64 value too large');
  return Number(v);
}

/** The central directory's place and entry count, from the end record (zip64's if needed). */
async function findCentral(fh: FileHandle, size: number, fail: (why: string) => Error): Promise<{ offset: number; size: number; count: number; end: number }> {
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = await readAt(fh, size - tailLen, tailLen, fail);
  let at = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + 22 + tail.readUInt16LE(i + 20) === tailLen) {
      at = i;
      break;
    }
  }
  if (at < 0) throw fail('not a zip archive (no end of central directory record)');
  const end = size - tailLen + at;
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0) throw fail('multi-part zip archives are not supported');
  let count = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  let limit = end;
  if (count === 0xffff || cdSize === U32 || cdOffset === U32) {
    if (end < 20) throw fail('zip64 end of central directory locator missing');
    const loc = await readAt(fh, end - 20, 20, fail);
    if (loc.readUInt32LE(0) !== LOCATOR64) throw fail('zip64 end of central directory locator missing');
    const at64 = big(loc, 8, fail);
    if (at64 + 56 > end - 20) throw fail('bad zip64 end of central directory offset');
    const rec = await readAt(fh, at64, 56, fail);
    if (rec.readUInt32LE(0) !== EOCD64) throw fail('bad zip64 end of central directory record');
    count = big(rec, 32, fail);
    cdSize = big(rec, 40, fail);
    cdOffset = big(rec, 48, fail);
    limit = at64;
  }
  if (count > MAX_MEMBERS) throw fail(`more than ${MAX_MEMBERS} entries: refused`);
  if (cdSize > MAX_CD) throw fail(`central directory of ${cdSize} bytes: too large`);
  if (cdOffset + cdSize > limit) throw fail('central directory runs past its end record');
  return { offset: cdOffset, size: cdSize, count, end: cdOffset };
}

/** zip64 extra field (0x0001): the 64-bit values of the fields that say 0xffffffff, in order. */
function zip64Extra(extra: Buffer, want: readonly ('usize' | 'csize' | 'header')[], fail: (why: string) => Error): Partial<Record<'usize' | 'csize' | 'header', number>> {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      if (len < want.length * 8 || p + 4 + len > extra.length) throw fail('bad zip64 extra field');
      return Object.fromEntries(want.map((k, i) => [k, big(extra, p + 4 + i * 8, fail)]));
    }
    p += 4 + len;
  }
  if (want.length) throw fail('zip64 extra field missing');
  return {};
}

/** One central directory entry at `p` of `cd`; returns it and where the next starts. */
function centralEntry(cd: Buffer, p: number, label: string, fail: (why: string) => Error): { entry: Omit<ZipEntry, 'data'>; next: number } {
  if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw fail(`bad central directory entry at offset ${p}`);
  const nameLen = cd.readUInt16LE(p + 28);
  const next = p + 46 + nameLen + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
  if (next > cd.length) throw fail(`bad central directory entry at offset ${p}`);
  const raw = cd.toString('utf8', p + 46, p + 46 + nameLen).replace(/\\/g, '/');
  const flags = cd.readUInt16LE(p + 8);
  const method = cd.readUInt16LE(p + 10);
  const host = cd.readUInt8(p + 5);
  const attrs = cd.readUInt32LE(p + 38);
  const small = { usize: cd.readUInt32LE(p + 24), csize: cd.readUInt32LE(p + 20), header: cd.readUInt32LE(p + 42) };
  const want = (['usize', 'csize', 'header'] as const).filter((k) => small[k] === U32);
  const { usize, csize, header } = { ...small, ...zip64Extra(cd.subarray(p + 46 + nameLen, p + 46 + nameLen + cd.readUInt16LE(p + 30)), want, fail) };
  if (cd.readUInt16LE(p + 34) !== 0) throw fail(`member ${raw} is on another disk: not supported`);
  // Unix hosts (3) and macOS (19) keep the mode in the top half of the attributes.
  const mode = host === 3 || host === 19 ? (attrs >>> 16) & 0o170000 : 0;
  if (mode === 0o120000) throw ovaError([label, `member ${raw} is a symlink: refused`]);
  if (flags & 1) throw ovaError([label, `member ${raw} is encrypted: not supported`]);
  const dir = raw.endsWith('/') || mode === 0o040000 || (mode === 0 && (attrs & 0x10) !== 0);
  const type = dir ? 'directory' : mode === 0 || mode === 0o100000 ? 'file' : 'other';
  if (type === 'file' && method !== 0 && method !== 8) throw ovaError([label, `member ${raw} uses compression method ${method}: not supported (only stored and deflate)`]);
  const name = checkName(label, raw);
  if (name === '' && type !== 'directory') throw ovaError([label, `member at offset ${header} has an empty name: refused`]);
  return { entry: { name, type, method, crc: cd.readUInt32LE(p + 16), csize, usize, header }, next };
}

/** Every entry of the zip `fh` (named `label`), each checked against its local header; data ranges may not overlap. */
export async function listZip(fh: FileHandle, size: number, label: string): Promise<ZipEntry[]> {
  const fail = (why: string) => ovaError([label, why]);
  const cd = await findCentral(fh, size, fail);
  const buf = await readAt(fh, cd.offset, cd.size, fail);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  for (let p = 0, i = 0; i < cd.count; i++) {
    const { entry, next } = centralEntry(buf, p, label, fail);
    p = next;
    if (entry.type === 'file' && names.has(entry.name)) throw fail(`member ${entry.name} appears twice: refused`);
    names.add(entry.name);
    if (entry.header + 30 > cd.end) throw fail(`member ${entry.name}: bad local header offset`);
    const local = await readAt(fh, entry.header, 30, fail);
    if (local.readUInt32LE(0) !== LOCAL) throw fail(`member ${entry.name}: bad local header`);
    const nameLen = local.readUInt16LE(26);
    const data = entry.header + 30 + nameLen + local.readUInt16LE(28);
    const localName = (await readAt(fh, entry.header + 30, nameLen, fail)).toString('utf8').replace(/\\/g, '/');
    if (checkName(label, localName) !== entry.name) throw fail(`member ${entry.name}: its local header names ${localName}: refused`);
    if (data + entry.csize > cd.end) throw fail(`member ${entry.name}: its data runs past the end of the archive`);
    entries.push({ ...entry, data });
  }
  const byPlace = [...entries].sort((x, y) => x.header - y.header);
  for (let i = 1; i < byPlace.length; i++) {
    const prev = byPlace[i - 1]!;
    if (byPlace[i]!.header < prev.data + prev.csize) throw fail(`members ${prev.name} and ${byPlace[i]!.name} overlap: refused`);
  }
  return entries;
}

/** Write one file entry's data to `target`, checking its size and CRC-32 as it goes. */
async function writeEntry(ova: string, e: ZipEntry, target: string, label: string, signal?: AbortSignal): Promise<void> {
  const out = await open(target, 'wx', 0o644);
  let written = 0;
  let crc = 0;
  const bad = (why: string) => ovaError([label, `member ${e.name} is corrupt: ${why}`]);
  try {
    const raw = e.csize === 0 ? Readable.from([]) : createReadStream(ova, { start: e.data, end: e.data + e.csize - 1 });
    const sink = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        throwIfAborted(signal);
        written += chunk.length;
        if (written > e.usize) throw bad(`more than the ${e.usize} bytes listed`);
        crc = crc32(chunk, crc);
        await out.write(chunk);
      }
    };
    const opts = signal ? { signal } : {};
    if (e.method === 8) await pipeline(raw, createInflateRaw(), sink, opts);
    else await pipeline(raw, sink, opts);
  } catch (err) {
    if (signal?.aborted) throwIfAborted(signal);
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) throw bad(`inflate: ${(err as Error).message}`);
    throw err;
  } finally {
    await out.close();
  }
  if (written !== e.usize) throw bad(`${written} bytes instead of the ${e.usize} listed`);
  if (crc >>> 0 !== e.crc >>> 0) throw bad('CRC-32 does not match');
}

/**
 * Unpack the zip file `ova` into `intoDir` (created if missing; it must be
 * empty); returns its absolute path. InputError for a bad or refused zip,
 * AbortError when cancelled; what was unpacked is the caller's to remove.
 */
export async function extractZipOva(ova: string, intoDir: string, signal?: AbortSignal): Promise<string> {
  const dir = path.resolve(intoDir);
  throwIfAborted(signal);
  try {
    const fh = await open(ova, 'r');
    let entries: ZipEntry[];
    try {
      entries = await listZip(fh, (await fh.stat()).size, ova);
    } finally {
      await fh.close();
    }
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) throw ovaError([ova, `cannot unpack into ${dir}: the directory is not empty`]);
    for (const e of entries) {
      throwIfAborted(signal);
      if (e.type === 'directory') await mkdir(path.join(dir, e.name), { recursive: true });
      if (e.type !== 'file') continue; // devices and fifos are not made
      await mkdir(path.dirname(path.join(dir, e.name)), { recursive: true });
      await writeEntry(ova, e, path.join(dir, e.name), ova, signal);
    }
  } catch (err) {
    if (signal?.aborted) throwIfAborted(signal);
    throw asInputError(err, [ova]);
  }
  return dir;
}
