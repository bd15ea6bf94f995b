// What a disk image names besides itself, read from its header as qemu 7.2
// reads it, without asking qemu (which would open what is named to answer):
// - qcow2: the backing file (and its format), the external data file
//   (incompatible feature bit 2, its name in a header extension);
// - qcow (version 1), qed: the backing file;
// - vmdk: a descriptor's extents and parentFileNameHint (parsed by
//   vmx/vmdk.ts, which also checks that qemu reads the same parent); a
//   sparse file's parent hint, which qemu looks for at byte 512.
// Other formats name nothing qemu opens. The format is the one given (-if,
// the OVF's, a backing format), else what qemu's probe would pick among
// these (the same magic numbers; qemu's own rule for a text descriptor).
// Read as vmdk, anything but a sparse file is a descriptor, as for qemu.
// Callers decide what a name may be: an OVA member's must stay inside the
// OVA (ova/chain.ts), `-i disk`'s must not be remote (backing.ts).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { InputError } from '../../errors.js';
import { errnoText } from '../../util/errno.js';
import { descriptorOf } from './vmx/disks.js';
import {
  MAX_DESCRIPTOR_BYTES,
  parseSparseHeader,
  pointsAtDescriptor,
  POINTS_AT_DESCRIPTOR,
  QEMU_DESC_SIZE,
  QEMU_SPARSE_DESC_OFFSET,
  qemuParentHint,
  qemuProbesDescriptor,
  SECTOR,
  type ExtentType,
} from './vmx/vmdk.js';

/** Random access to an image's bytes: a file, or a member of an OVA. */
export interface Bytes {
  size: number;
  /** Up to `length` bytes at `offset`; fewer at the end. */
  read(offset: number, length: number): Promise<Buffer>;
}

/** Makes the caller's one-line error from what is wrong with the image. */
export type RefFail = (why: string, cause?: unknown) => InputError;

export type RefKind = 'backing file' | 'data file' | 'extent';

export interface ImageRef {
  kind: RefKind;
  /** As the image spells it: relative to the image's directory, absolute, or "proto:..." / "json:{...}". */
  name: string;
  /** A backing file's format, when the image says it (qcow2's extension, vmdk's parent, qed's "raw"). */
  format?: string;
  /** An extent's type (vmdk descriptors). */
  extentType?: ExtentType;
}

export interface ImageHead {
  /** How qemu will open the image; undefined: qemu probes a format that names nothing. */
  format: string | undefined;
  refs: ImageRef[];
}

const QCOW_MAGIC = 'QFI\xfb';
/** qcow2 header extensions (docs/interop/qcow2.txt). */
const EXT_END = 0;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_DATA_FILE = 0x44415441;
const INCOMPAT_DATA_FILE = 1n << 2n;
/** qed header feature bits. */
const QED_F_BACKING_FILE = 1n;
const QED_F_BACKING_FORMAT_NO_PROBE = 4n;

/** qemu's path_has_protocol: a ':' before any '/' ("nbd:...", "json:{...}", "file:x"). */
export function hasProtocol(name: string): boolean {
  const i = name.search(/[:/]/);
  return i >= 0 && name[i] === ':';
}

/** The format qemu's probe would pick, among those that can name other files; undefined for the rest. */
export function sniffFormat(head: Buffer): string | undefined {
  const magic = head.toString('latin1', 0, 4);
  if (magic === QCOW_MAGIC && head.length >= 8) {
    const version = head.readUInt32BE(4);
    return version === 1 ? 'qcow' : version >= 2 ? 'qcow2' : undefined;
  }
  if (magic === 'QED\0') return 'qed';
  if (magic === 'KDMV' || magic === 'COWD') return 'vmdk';
  // A text descriptor only by qemu's own rule: a raw disk is not refused for looking like one to us.
  if (qemuProbesDescriptor(head)) return 'vmdk';
  return undefined;
}

/** `b` made `n` bytes long with zeros: qemu reads zeros past the end of a file. */
function zeroPad(b: Buffer, n: number): Buffer {
  if (b.length >= n) return b;
  const out = Buffer.alloc(n);
  b.copy(out);
  return out;
}

/** A C string: up to the first NUL. */
function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('utf8');
}

function u64(b: Buffer, at: number, le: boolean, fail: RefFail, what: string): number {
  const v = le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`${what} header: ${v} is too big an offset`);
  return Number(v);
}

/**
 * What the image in `src` names, read as `format` (else probed as qemu
 * would). Throws through `fail` where the header is one qemu would read in
 * a way we do not follow.
 */
export async function imageRefs(src: Bytes, format: string | undefined, fail: RefFail): Promise<ImageHead> {
  const head = await src.read(0, Math.min(src.size, 4096));
  const f = format ?? sniffFormat(head);
  switch (f) {
    case 'qcow2':
      return { format: f, refs: await qcow2Refs(src, head, fail) };
    case 'qcow':
      return { format: f, refs: await qcowRefs(src, head, fail) };
    case 'qed':
      return { format: f, refs: await qedRefs(src, head, fail) };
    case 'vmdk':
      return { format: f, refs: await vmdkRefs(src, head, fail) };
    default:
      return { format: f, refs: [] };
  }
}

async function qcow2Refs(src: Bytes, raw: Buffer, fail: RefFail): Promise<ImageRef[]> {
  const head = zeroPad(raw, 104);
  // Not a qcow2 header: qemu refuses to open it as one.
  if (head.toString('latin1', 0, 4) !== QCOW_MAGIC || head.readUInt32BE(4) < 2) return [];
  const version = head.readUInt32BE(4);
  const backingOffset = u64(head, 8, false, fail, 'qcow2');
  const backingSize = head.readUInt32BE(16);
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) return [];
  const cluster = 2 ** clusterBits;
  const incompat = version >= 3 ? head.readBigUInt64BE(72) : 0n;
  const headerLength = version >= 3 ? head.readUInt32BE(100) : 72;
  // Everything below lives in the first cluster (qemu refuses it elsewhere).
  const first = zeroPad(await src.read(0, Math.min(src.size, cluster)), cluster);
  const refs: ImageRef[] = [];
  let backing: string | undefined;
  if (backingOffset !== 0) {
    if (backingOffset > cluster || backingSize > Math.min(1023, cluster - backingOffset)) throw fail('qcow2 header: bad backing file name');
    backing = cString(first.subarray(backingOffset, backingOffset + backingSize));
  }
  let backingFormat: string | undefined;
  let dataFile: string | undefined;
  const extEnd = backingOffset !== 0 ? backingOffset : cluster;
  for (let at = headerLength; at < extEnd; ) {
    if (at + 8 > first.length) break; // qemu reads zeros there: the end
    const type = first.readUInt32BE(at);
    const len = first.readUInt32BE(at + 4);
    at += 8;
    if (type === EXT_END) break;
    if (at > extEnd || len > extEnd - at) throw fail('qcow2 header: a header extension runs past its end');
    const data = first.subarray(at, at + len);
    if (type === EXT_BACKING_FORMAT) backingFormat = cString(data);
    if (type === EXT_DATA_FILE) dataFile = cString(data);
    at += Math.ceil(len / 8) * 8;
  }
  if (backing) refs.push({ kind: 'backing file', name: backing, ...(backingFormat ? { format: backingFormat } : {}) });
  if (incompat & INCOMPAT_DATA_FILE) refs.push({ kind: 'data file', name: dataFile ?? '' });
  return refs;
}

async function qcowRefs(src: Bytes, raw: Buffer, fail: RefFail): Promise<ImageRef[]> {
  const head = zeroPad(raw, 20);
  const offset = u64(head, 8, false, fail, 'qcow');
  const len = head.readUInt32BE(16);
  if (offset === 0) return [];
  if (len > 1023) throw fail('qcow header: bad backing file name');
  const name = cString(await src.read(offset, len));
  return name ? [{ kind: 'backing file', name }] : [];
}

async function qedRefs(src: Bytes, raw: Buffer, fail: RefFail): Promise<ImageRef[]> {
  const head = zeroPad(raw, 64);
  const features = head.readBigUInt64LE(16);
  if (!(features & QED_F_BACKING_FILE)) return [];
  const offset = head.readUInt32LE(56);
  const len = head.readUInt32LE(60);
  if (len >= 1024) throw fail('qed header: bad backing file name');
  const name = cString(await src.read(offset, len));
  return name ? [{ kind: 'backing file', name, ...(features & QED_F_BACKING_FORMAT_NO_PROBE ? { format: 'raw' } : {}) }] : [];
}

async function vmdkRefs(src: Bytes, head: Buffer, fail: RefFail): Promise<ImageRef[]> {
  const magic = head.toString('latin1', 0, 4);
  const parent = (name: string | undefined): ImageRef[] => (name === undefined ? [] : [{ kind: 'backing file', name, format: 'vmdk' }]);
  if (magic === 'KDMV' || magic === 'COWD') {
    const h = magic === 'KDMV' ? parseSparseHeader(zeroPad(head, SECTOR)) : undefined;
    if (h && pointsAtDescriptor(h)) throw fail(POINTS_AT_DESCRIPTOR);
    return parent(qemuParentHint(await src.read(QEMU_SPARSE_DESC_OFFSET, QEMU_DESC_SIZE)));
  }
  // Anything else qemu reads as a descriptor: all of it is ours to parse.
  if (src.size > MAX_DESCRIPTOR_BYTES) throw fail(`not a sparse VMDK, and too big for a VMDK descriptor (at most ${MAX_DESCRIPTOR_BYTES} bytes)`);
  const desc = descriptorOf(await src.read(0, src.size), fail);
  const extents: ImageRef[] = desc.extents.flatMap((e) => (e.fileName === undefined ? [] : [{ kind: 'extent' as const, name: e.fileName, extentType: e.type }]));
  return [...extents, ...parent(desc.parentFileNameHint)];
}

/**
 * A sparse extent of a descriptor is opened by qemu as a sparse file: one
 * that points at a descriptor would bring extents of its own. Refused.
 */
export async function checkSparseExtent(src: Bytes, type: ExtentType | undefined, fail: RefFail): Promise<void> {
  if (type !== 'SPARSE' && type !== 'VMFSSPARSE') return;
  const h = parseSparseHeader(zeroPad(await src.read(0, SECTOR), SECTOR));
  if (h && pointsAtDescriptor(h)) throw fail(POINTS_AT_DESCRIPTOR);
}

/**
 * Open FILE (a regular file or block device, without blocking on a FIFO)
 * and run `fn` on its bytes; errors name the file through `fail`.
 */
export async function withFileBytes<T>(file: string, fail: RefFail, fn: (b: Bytes) => Promise<T>): Promise<T> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw fail('Is a directory');
    if (!st.isFile() && !st.isBlockDevice()) throw fail('not a regular file or block device');
    // A block device's size is not in its stat: read until the end.
    const size = st.isFile() ? st.size : Number.MAX_SAFE_INTEGER;
    const h = fh;
    return await fn({
      size,
      read: async (offset, length) => {
        const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
        let done = 0;
        try {
          while (done < buf.length) {
            const { bytesRead } = await h.read(buf, done, buf.length - done, offset + done);
            if (bytesRead === 0) break;
            done += bytesRead;
          }
        } catch (err) {
          throw fail(errnoText(err), err);
        }
        return buf.subarray(0, done);
      },
    });
  } finally {
    await fh.close();
  }
}
