// What a .vmx's fileName points at: a VMDK, which is either
// - a text descriptor ("# Disk DescriptorFile", a few hundred bytes) whose
//   extent lines name the files that hold the data:
//     RW 2097152 FLAT "guest-flat.vmdk" 0        (sectors, type, file, offset)
//     RW 4192256 SPARSE "guest-s001.vmdk"
//   and, for a snapshot, parentFileNameHint="guest.vmdk";
// - a binary sparse extent starting with "KDMV" (monolithicSparse,
//   streamOptimized), with a descriptor embedded at a sector offset;
// - an old ESX sparse extent starting with "COWD".
// Pure parsing here, no I/O. The format is VMware's "Virtual Disk Format
// 5.0" paper; extent and type names are upper case there and in qemu's
// block/vmdk.c, the reader we hand these files to.
import { hasControl, quote } from './fail.js';

/** A descriptor is a few hundred bytes; a bigger text file is not one. */
export const MAX_DESCRIPTOR_BYTES = 64 * 1024;
/** How much of a descriptor qemu searches for parentFileNameHint (block/vmdk.c DESC_SIZE). */
export const QEMU_DESC_SIZE = 20 * 512;
/** Where qemu looks for the parent hint of a sparse ("KDMV", "COWD") file, whatever its header says. */
export const QEMU_SPARSE_DESC_OFFSET = 0x200;
/** VMDK sizes and offsets count 512-byte sectors. */
export const SECTOR = 512;

/** The extent types of VMware's spec; qemu reads all but the RDM/RAW device ones. */
export type ExtentType = 'FLAT' | 'SPARSE' | 'ZERO' | 'VMFS' | 'VMFSSPARSE' | 'VMFSRDM' | 'VMFSRAW' | 'SESPARSE';
const EXTENT_TYPES = new Set<string>(['FLAT', 'SPARSE', 'ZERO', 'VMFS', 'VMFSSPARSE', 'VMFSRDM', 'VMFSRAW', 'SESPARSE']);

export interface Extent {
  type: ExtentType;
  sectors: number;
  /** Relative to the descriptor's directory, or absolute; none for ZERO. */
  fileName?: string;
  /** In sectors, into fileName (flat extents only). */
  offset: number;
  line: number;
}

export interface Descriptor {
  createType: string;
  parentFileNameHint?: string;
  parentLine?: number;
  extents: Extent[];
  /** Sum of the extents, bytes. */
  capacity: number;
}

/** Why a descriptor is refused, with its line when there is one. */
export type DescriptorFail = (why: string, line?: number) => Error;

const EXTENT = /^(RW|RDONLY|NOACCESS)\s+(\d{1,15})\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d{1,15}))?)?$/;
const KEY_VALUE = /^([A-Za-z][\w.]*)\s*=\s*(.*)$/;

/** Whether the start of a file looks like a text descriptor. */
export function looksLikeDescriptor(head: Buffer): boolean {
  const text = head.toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '');
  return /^\s*# Disk DescriptorFile/.test(text) || /^\s*createType\s*=/m.test(text);
}

/** Parse a descriptor's text. */
export function parseDescriptor(text: string, fail: DescriptorFail): Descriptor {
  if (text.length > MAX_DESCRIPTOR_BYTES) throw fail(`too big for a VMDK descriptor (at most ${MAX_DESCRIPTOR_BYTES} bytes)`);
  const keys = new Map<string, { value: string; line: number }>();
  const extents: Extent[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const m = KEY_VALUE.exec(s);
    if (m) keys.set(m[1]!.toLowerCase(), { value: unquote(m[2]!), line: i + 1 });
    else extents.push(parseExtent(s, i + 1, fail));
  });
  const createType = keys.get('createtype')?.value;
  if (!createType) throw fail('no createType: not a VMDK descriptor');
  if (extents.length === 0) throw fail('no extents');
  const capacity = extents.reduce((sum, e) => sum + e.sectors * SECTOR, 0);
  if (!Number.isSafeInteger(capacity)) throw fail('the extents add up to more than we can count');
  const d: Descriptor = { createType, extents, capacity };
  const parent = keys.get('parentfilenamehint');
  if (parent && parent.value !== '') {
    if (hasControl(parent.value)) throw fail(`parentFileNameHint ${quote(parent.value)} holds a control character`, parent.line);
    Object.assign(d, { parentFileNameHint: parent.value, parentLine: parent.line });
  }
  // qemu finds the parent its own way (the first "parentFileNameHint"
  // anywhere, a comment included): what it would follow must be what we check.
  const qemu = qemuParentHint(Buffer.from(text, 'utf8').subarray(0, QEMU_DESC_SIZE));
  if (qemu !== undefined && qemu !== d.parentFileNameHint) {
    throw fail(`qemu would read the parentFileNameHint as ${quote(qemu)}, not as ${quote(d.parentFileNameHint ?? '')}: refused`, parent?.line);
  }
  return d;
}

/**
 * The parent a VMDK names as qemu 7.2 reads it (block/vmdk.c
 * vmdk_parent_open): the first "parentFileNameHint" in `desc` (the
 * QEMU_DESC_SIZE bytes qemu reads, up to the first NUL), 2 characters
 * skipped (`="`), up to the next '"'. Undefined if there is none or qemu
 * would refuse it (no closing quote, too long).
 */
export function qemuParentHint(desc: Buffer): string | undefined {
  const nul = desc.indexOf(0);
  const at = (nul < 0 ? desc : desc.subarray(0, nul)).indexOf('parentFileNameHint', 0, 'latin1');
  if (at < 0) return undefined;
  const start = at + 'parentFileNameHint'.length + 2;
  let end = start;
  while (end < desc.length && desc[end] !== 0x22 && desc[end] !== 0) end++;
  if (end >= desc.length || desc[end] !== 0x22 || end - start > 1023) return undefined;
  return desc.toString('utf8', start, end) || undefined;
}

/**
 * qemu's vmdk_probe on a text file (its first 2048 bytes): after comment
 * lines and lines of spaces, a "version=1|2|3" line makes it a VMDK
 * descriptor, whatever else it holds.
 */
export function qemuProbesDescriptor(head: Buffer): boolean {
  const buf = head.subarray(0, 2048);
  let p = 0;
  while (p < buf.length) {
    if (buf[p] === 0x23) {
      while (p < buf.length && buf[p] !== 0x0a) p++;
      p++;
      continue;
    }
    if (buf[p] === 0x20) {
      while (p < buf.length && buf[p] === 0x20) p++;
      if (p < buf.length && buf[p] === 0x0d) p++;
      if (p === buf.length || buf[p] !== 0x0a) return false;
      p++;
      continue;
    }
    return /^version=[123]\r?\n/.test(buf.toString('latin1', p, p + 11));
  }
  return false;
}

/**
 * The extent of a plain flat disk: a descriptor with a single FLAT or VMFS
 * extent and no parent (monolithicFlat, ESXi's "vmfs"), whose file holds
 * the disk's bytes as they are. Undefined for anything else. The caller
 * decides about an extent at a non-zero offset.
 */
export function singleFlatExtent(d: Descriptor): Extent | undefined {
  const only = d.extents.length === 1 ? d.extents[0]! : undefined;
  return only && (only.type === 'FLAT' || only.type === 'VMFS') && d.parentFileNameHint === undefined ? only : undefined;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

function parseExtent(s: string, line: number, fail: DescriptorFail): Extent {
  const m = EXTENT.exec(s);
  if (!m) throw fail('neither an extent nor a "key = value" line', line);
  const [, , sectors, type, fileName, offset] = m;
  if (!EXTENT_TYPES.has(type!)) throw fail(`unknown extent type ${quote(type!)}`, line);
  const e: Extent = { type: type as ExtentType, sectors: Number(sectors), offset: Number(offset ?? 0), line };
  if (!Number.isSafeInteger((e.sectors + e.offset) * SECTOR)) throw fail(`extent of ${sectors} sectors at ${e.offset} is too big`, line);
  if (type === 'ZERO') return e;
  if (fileName === undefined || fileName === '') throw fail(`${type} extent without a file name`, line);
  if (hasControl(fileName)) throw fail(`extent file name ${quote(fileName)} holds a control character`, line);
  e.fileName = fileName;
  return e;
}

/** The fields we use of a "KDMV" sparse extent header (little-endian). */
export interface SparseHeader {
  /** Bytes. */
  capacity: number;
  /** Where the embedded descriptor is, in bytes; size 0 if there is none. */
  descriptorOffset: number;
  descriptorSize: number;
}

/**
 * A "KDMV" header of capacity 0 with a descriptor offset: qemu reads the
 * descriptor there as a whole descriptor file, extents included.
 */
export function pointsAtDescriptor(h: SparseHeader): boolean {
  return h.capacity === 0 && h.descriptorOffset !== 0;
}
export const POINTS_AT_DESCRIPTOR = 'a sparse VMDK of capacity 0 that points at a descriptor (qemu would read its extents): not supported';

/** Parse the first 512 bytes of a "KDMV" file; undefined if absurd. */
export function parseSparseHeader(buf: Buffer): SparseHeader | undefined {
  if (buf.length < SECTOR || buf.toString('latin1', 0, 4) !== 'KDMV') return undefined;
  const num = (off: number) => {
    const n = buf.readBigUInt64LE(off) * BigInt(SECTOR);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  };
  const capacity = num(12);
  const descriptorOffset = num(28);
  const descriptorSize = num(36);
  if (capacity === undefined || descriptorOffset === undefined || descriptorSize === undefined) return undefined;
  return { capacity, descriptorOffset, descriptorSize: descriptorOffset === 0 ? 0 : descriptorSize };
}
