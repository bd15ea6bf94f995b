// Our own reader of tar headers, for OVA files: an uncompressed OVA's disks
// are read in place (qemu opens a byte range of the .ova), so we only need
// where each member's data starts and how long it is. virt-v2v gets the same
// from `tar -tRvf`; reading the headers ourselves avoids parsing tar's
// human-readable listing and lets us refuse hostile names before anything
// trusts them.
//
// Formats: ustar (POSIX), GNU (base-256 sizes, 'L' long names) and pax ('x'
// headers with path and size), as GNU tar, Python's tarfile and VMware's
// ovftool write them. Only headers are read; member data is skipped by seeking.
// Refused: links (a symlink or hard link in an OVA is never legitimate and
// is how tar extraction attacks start), absolute names, '..' components,
// sparse members (their stored bytes are not the file's), bad checksums and
// data running past the end of the file.
import { ovaError, throwIfAborted } from './fail.js';

export const BLOCK = 512;
/** Largest pax or long-name record we read: names are at most PATH_MAX (4096) in practice. */
export const MAX_META = 1024 * 1024;
/** An OVA holds a handful of files; this bounds the work a hostile archive can ask for. */
export const MAX_MEMBERS = 100_000;

export type TarMemberType = 'file' | 'directory' | 'other';

export interface TarMember {
  /** Normalised: no leading "./", no trailing '/', never absolute, no '..'. */
  name: string;
  type: TarMemberType;
  /** Byte offset of the member's data in the archive. */
  offset: number;
  /** Bytes of data. */
  size: number;
}

/** One 512-byte header as written, before pax or GNU long-name overrides. */
export interface TarHeader {
  name: string;
  typeflag: string;
  size: number;
}

/** Random-access bytes: a file handle, or a buffer in tests. */
export interface TarSource {
  size: number;
  /** Like FileHandle.read: bytes read into `buf` from `position`, 0 at EOF. */
  read(buf: Uint8Array, position: number): Promise<number>;
}

const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return utf8(nul < 0 ? b : b.subarray(0, nul));
}

/** A numeric field: octal text, or GNU base-256 when the top bit of its first byte is set. */
function parseNumber(field: Uint8Array, fail: (why: string) => Error): number {
  if (field[0]! & 0x80) {
    if (field[0]! & 0x40) throw fail('negative base-256 number');
    let v = BigInt(field[0]! & 0x3f);
    for (const b of field.subarray(1)) v = (v << 8n) | BigInt(b);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('number too large');
    return Number(v);
  }
  const m = /^[ \0]*([0-7]*)[ \0]*$/.exec(latin1(field));
  if (!m) throw fail('bad octal number');
  const v = m[1] ? parseInt(m[1], 8) : 0;
  if (!Number.isSafeInteger(v)) throw fail('number too large');
  return v;
}

/** Unsigned and (historic) signed sums of the header, its checksum field counted as spaces. */
function checksums(block: Uint8Array): [number, number] {
  let u = 0;
  let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    u += b;
    s += b >= 0x80 ? b - 0x100 : b;
  }
  return [u, s];
}

/**
 * Parse one header block found at byte `at` of `label`; null for a zero
 * block (end of archive). Throws InputError for anything that is not a
 * valid ustar/GNU header.
 */
export function parseHeader(block: Uint8Array, label: string, at: number): TarHeader | null {
  if (block.length !== BLOCK) throw ovaError([label, `truncated tar header at offset ${at}`]);
  if (block.every((b) => b === 0)) return null;
  const fail = (why: string) => ovaError([label, `bad tar header at offset ${at}: ${why}`]);
  const magic = latin1(block.subarray(257, 263));
  if (magic !== 'ustar\0' && magic !== 'ustar ') {
    throw at === 0 ? ovaError([label, 'not a tar archive']) : fail('no ustar magic');
  }
  const stored = parseNumber(block.subarray(148, 156), fail);
  if (!checksums(block).includes(stored)) throw ovaError([label, `bad tar header checksum at offset ${at}`]);
  const name = cString(block.subarray(0, 100));
  // The prefix field is POSIX ustar's; GNU tar keeps other data there.
  const prefix = magic === 'ustar\0' ? cString(block.subarray(345, 500)) : '';
  const flag = block[156]!;
  return {
    name: prefix ? `${prefix}/${name}` : name,
    typeflag: flag === 0 ? '0' : String.fromCharCode(flag),
    size: parseNumber(block.subarray(124, 136), fail),
  };
}

/** Round up to whole blocks: where the member after this data starts. */
export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/**
 * A member name as the archive gives it, normalised ("./a//b/" -> "a/b"),
 * or an InputError if it is absolute or climbs out with '..'. Also used for
 * names that OVF hrefs and manifests give.
 */
export function checkName(label: string, raw: string, what = 'member'): string {
  if (raw.includes('\0')) throw ovaError([label, `${what} ${raw} has a NUL in its name: refused`]);
  if (raw.startsWith('/')) throw ovaError([label, `${what} ${raw} has an absolute name: refused`]);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw ovaError([label, `${what} ${raw} has a '..' component: refused`]);
  return parts.join('/');
}

/** pax extended header records: "<len> <key>=<value>\n". */
function parsePax(data: Uint8Array, label: string, at: number): Map<string, string> {
  const fail = () => ovaError([label, `bad pax header at offset ${at}`]);
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 16) throw fail();
    const digits = latin1(data.subarray(pos, sp));
    const end = pos + Number(digits);
    if (!/^\d+$/.test(digits) || end <= sp + 1 || end > data.length || data[end - 1] !== 0x0a) throw fail();
    const record = utf8(data.subarray(sp + 1, end - 1));
    const eq = record.indexOf('=');
    if (eq <= 0) throw fail();
    records.set(record.slice(0, eq), record.slice(eq + 1));
    pos = end;
  }
  return records;
}

/** Headers whose data describes the next member rather than being one. */
export function isMetadata(h: TarHeader): boolean {
  return h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K';
}

const REFUSED: Record<string, string> = { '1': 'a hard link', '2': 'a symlink', S: 'a GNU sparse file', M: 'a multi-volume continuation' };
const TYPES: Record<string, TarMemberType> = { '0': 'file', '7': 'file', '5': 'directory', D: 'directory' };

/**
 * Folds pax and GNU long-name headers into the member they precede: feed
 * it every header in order (metadata with its data), get members back.
 */
export class MemberFolder {
  private path?: string;
  private size?: number;
  private sparse = false;
  private pendingAt?: number;

  constructor(private readonly label: string) {}

  /** Record the data of a metadata header (isMetadata) found at `at`. */
  metadata(h: TarHeader, data: Uint8Array, at: number): void {
    if (h.typeflag === 'g') return; // global: nothing in it that we use
    this.pendingAt ??= at;
    if (h.typeflag === 'L') this.path = cString(data);
    if (h.typeflag !== 'x') return; // 'K', a link's target: links are refused anyway
    const pax = parsePax(data, this.label, at);
    const path = pax.get('path');
    if (path) this.path = path;
    const size = pax.get('size');
    if (size) {
      if (!/^\d{1,16}$/.test(size) || !Number.isSafeInteger(Number(size))) throw ovaError([this.label, `bad pax size at offset ${at}`]);
      this.size = Number(size);
    }
    if ([...pax.keys()].some((k) => k.startsWith('GNU.sparse.'))) this.sparse = true;
  }

  /** The member a non-metadata header at `at` describes; throws for refused ones. */
  member(h: TarHeader, at: number): TarMember {
    const raw = this.path ?? h.name;
    const size = this.size ?? h.size;
    const sparse = this.sparse;
    this.path = this.size = this.pendingAt = undefined;
    this.sparse = false;
    const refused = sparse ? 'a sparse file' : REFUSED[h.typeflag];
    if (refused) throw ovaError([this.label, `member ${raw} is ${refused}: refused`]);
    const name = checkName(this.label, raw);
    // Old tars mark directories by a trailing '/' on a regular-file header.
    const type = raw.endsWith('/') && h.typeflag === '0' ? 'directory' : (TYPES[h.typeflag] ?? 'other');
    if (name === '' && type !== 'directory') throw ovaError([this.label, `member at offset ${at} has an empty name: refused`]);
    return { name, type, offset: at + BLOCK, size };
  }

  /** At the end of the archive: metadata must not be left without its member. */
  finish(): void {
    if (this.pendingAt !== undefined) throw ovaError([this.label, `pax or long-name header at offset ${this.pendingAt} has no member after it`]);
  }
}

async function readFully(src: TarSource, buf: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await src.read(buf.subarray(got), position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The error for data that runs past the end of the archive. */
export function truncated(label: string, name: string, size: number): Error {
  return ovaError([label, `member ${name} is truncated (the archive ends before its ${size} bytes)`]);
}

/** The data of a pax or long-name header at `at`: bounded, and all there. */
async function readMetadata(src: TarSource, h: TarHeader, at: number, label: string): Promise<Uint8Array> {
  if (h.size > MAX_META) throw ovaError([label, `pax or long-name header at offset ${at} is too large (${h.size} bytes)`]);
  const data = new Uint8Array(h.size);
  if (at + BLOCK + h.size > src.size || (await readFully(src, data, at + BLOCK)) !== h.size) throw truncated(label, h.name, h.size);
  return data;
}

/**
 * Every member of the tar archive `src` (named `label` in errors), in
 * archive order; directories and 'other' members (devices, fifos) included,
 * the root "./" left out. Reads headers only.
 */
export async function listTar(src: TarSource, label: string, signal?: AbortSignal): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const folder = new MemberFolder(label);
  const block = new Uint8Array(BLOCK);
  let at = 0;
  // The end of the file ends the archive too (no zero blocks), as for GNU tar.
  for (let headers = 0; at < src.size; headers++) {
    throwIfAborted(signal);
    const h = parseHeader(block.subarray(0, await readFully(src, block, at)), label, at);
    if (h === null) break;
    if (headers >= MAX_MEMBERS) throw ovaError([label, `more than ${MAX_MEMBERS} headers: refused`]);
    if (isMetadata(h)) {
      folder.metadata(h, await readMetadata(src, h, at, label), at);
      at += BLOCK + padded(h.size);
    } else {
      const m = folder.member(h, at);
      if (m.offset + m.size > src.size) throw truncated(label, m.name, m.size);
      if (m.name !== '') members.push(m);
      at = m.offset + padded(m.size);
    }
  }
  folder.finish();
  return members;
}

/** A TarSource over an in-memory archive. */
export function bufferSource(buf: Uint8Array): TarSource {
  return {
    size: buf.length,
    read: async (dst, position) => {
      const part = buf.subarray(position, position + dst.length);
      dst.set(part);
      return part.length;
    },
  };
}
