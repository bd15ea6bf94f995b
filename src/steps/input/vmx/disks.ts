// From a .vmx's disk entry to a SourceDisk: find the file, check it and
// every file it leads to (extents, snapshot parents) stays in the .vmx's
// directory, and pick what to hand on:
// - a descriptor with one FLAT or VMFS extent at offset 0 and no parent
//   (monolithicFlat, ESXi's "vmfs"): the extent itself, format raw, the
//   fastest path (nbdkit file plugin, no qemu);
// - anything else (sparse, split, stream-optimized, snapshots): the .vmdk,
//   format vmdk, for qemu to read. qemu follows extents and
//   parentFileNameHint on its own, hence the checks on all of them here.
// virt-v2v (input_vmx.ml) hands every .vmdk to qemu and allows absolute
// paths anywhere; we refuse names outside the directory: the .vmx is input
// we do not trust, and a disk is a file we will read and copy out.
import path from 'node:path';
import { TextDecoder } from 'node:util';
import type { SourceDisk } from '../source.js';
import { at, quote, show, vmxError } from './fail.js';
import { openRegular, readAt, resolveInside, type Fail, type Opened, type Scope } from './files.js';
import type { VmxDisk } from './devices.js';
import {
  looksLikeDescriptor,
  MAX_DESCRIPTOR_BYTES,
  parseDescriptor,
  parseSparseHeader,
  pointsAtDescriptor,
  POINTS_AT_DESCRIPTOR,
  QEMU_DESC_SIZE,
  QEMU_SPARSE_DESC_OFFSET,
  qemuParentHint,
  SECTOR,
  singleFlatExtent,
  type Descriptor,
} from './vmdk.js';

/** Snapshot chains on ESXi stop at 32; a longer one is a loop. */
const MAX_CHAIN = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true });

type Found = { location: string; format: 'raw' | 'vmdk'; capacity?: number };

/** The checked SourceDisk of one disk entry. */
export async function resolveDisk(d: VmxDisk, scope: Scope): Promise<SourceDisk> {
  const fail: Fail = (why, cause) => vmxError(scope.vmx, `${at(d.line)}${d.key}: ${why}`, cause);
  const real = await resolveInside(scope, d.fileName, fail);
  const found = await inspectVmdk(real, scope, (why, cause) => fail(`${show(d.fileName)}: ${why}`, cause), 0);
  return { ...found, bus: d.bus };
}

/** What the VMDK at `real` (a checked real path) is; `fail` names it already. */
async function inspectVmdk(real: string, scope: Scope, fail: Fail, depth: number): Promise<Found> {
  if (depth > MAX_CHAIN) throw fail(`more than ${MAX_CHAIN} snapshot parents (a loop?)`);
  const opened = await openRegular(real, fail);
  try {
    const head = await readAt(opened, 0, Math.min(opened.size, MAX_DESCRIPTOR_BYTES + 1), fail);
    const magic = head.toString('latin1', 0, 4);
    if (magic === 'KDMV') return await inspectSparse(real, opened, head, scope, fail, depth);
    if (magic === 'COWD') {
      // No descriptor, but qemu still looks for a parent hint at byte 512.
      const hint = await qemuSparseParent(opened, fail);
      if (hint !== undefined) await checkParent(real, hint, undefined, scope, fail, depth);
      return { location: real, format: 'vmdk' };
    }
    if (!looksLikeDescriptor(head)) throw fail('not a VMDK disk (neither a sparse extent nor a descriptor)');
    if (opened.size > MAX_DESCRIPTOR_BYTES) throw fail(`too big for a VMDK descriptor (at most ${MAX_DESCRIPTOR_BYTES} bytes)`);
    const desc = descriptorOf(head, fail);
    return await inspectDescriptor(real, desc, scope, fail, depth);
  } finally {
    await opened.handle.close();
  }
}

/** The descriptor in `bytes` (a text descriptor file, NUL padding allowed at its end). */
export function descriptorOf(bytes: Buffer, fail: Fail): Descriptor {
  let text: string;
  // qemu-img pads the descriptors it writes with NULs: trailing ones are fine.
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  bytes = bytes.subarray(0, end);
  try {
    if (bytes.includes(0)) throw new Error('NUL');
    text = utf8.decode(bytes);
  } catch {
    throw fail('not a text descriptor (binary data or invalid UTF-8)');
  }
  return parseDescriptor(text, (why, line) => fail(`${at(line)}${why}`));
}

/** The parent hint qemu reads in a sparse file: at byte 512, whatever its header says. */
async function qemuSparseParent(opened: Opened, fail: Fail): Promise<string | undefined> {
  return qemuParentHint(await readAt(opened, QEMU_SPARSE_DESC_OFFSET, QEMU_DESC_SIZE, fail));
}

/**
 * A "KDMV" file: qemu reads it; only its parent needs a check: the one its
 * embedded descriptor names, which must be the one qemu finds. One of
 * capacity 0 whose header points at a descriptor is read by qemu as that
 * descriptor, extents and all: refused.
 */
async function inspectSparse(real: string, opened: Opened, head: Buffer, scope: Scope, fail: Fail, depth: number): Promise<Found> {
  const h = parseSparseHeader(head);
  if (h === undefined) throw fail('truncated or corrupt sparse VMDK header');
  if (pointsAtDescriptor(h)) throw fail(POINTS_AT_DESCRIPTOR);
  const found: Found = { location: real, format: 'vmdk', capacity: h.capacity };
  const qemu = await qemuSparseParent(opened, fail);
  const mismatch = (ours: string | undefined) => fail(`qemu would read a parentFileNameHint ${quote(qemu!)} at byte 512, not ${quote(ours ?? '')}: refused`);
  if (h.descriptorSize === 0) {
    if (qemu !== undefined) throw mismatch(undefined);
    return found;
  }
  if (h.descriptorSize > MAX_DESCRIPTOR_BYTES) throw fail('embedded descriptor too big');
  const bytes = await readAt(opened, h.descriptorOffset, h.descriptorSize, fail);
  // The embedded descriptor is padded with NULs to its sector count.
  const end = bytes.indexOf(0);
  const embedded: Fail = (why, cause) => fail(`embedded descriptor: ${why}`, cause);
  const desc = descriptorOf(end < 0 ? bytes : bytes.subarray(0, end), embedded);
  if (qemu !== undefined && qemu !== desc.parentFileNameHint) throw mismatch(desc.parentFileNameHint);
  if (desc.parentFileNameHint !== undefined) await checkParent(real, desc.parentFileNameHint, desc.parentLine, scope, embedded, depth);
  return found;
}

async function inspectDescriptor(real: string, desc: Descriptor, scope: Scope, fail: Fail, depth: number): Promise<Found> {
  const dir = path.dirname(real);
  const files: string[] = [];
  for (const e of desc.extents) {
    if (e.fileName === undefined) continue;
    const extentFail: Fail = (why, cause) => fail(`${at(e.line)}${why}`, cause);
    const file = await resolveInside(scope, e.fileName, extentFail, dir);
    const named: Fail = (why, cause) => extentFail(`${show(e.fileName!)}: ${why}`, cause);
    const opened = await openRegular(file, named);
    try {
      // A sparse extent is opened as one, and may be a descriptor in disguise.
      const h = e.type === 'SPARSE' || e.type === 'VMFSSPARSE' ? parseSparseHeader(await readAt(opened, 0, SECTOR, named)) : undefined;
      if (h && pointsAtDescriptor(h)) throw named(POINTS_AT_DESCRIPTOR);
    } finally {
      await opened.handle.close();
    }
    const end = (e.offset + e.sectors) * SECTOR;
    if ((e.type === 'FLAT' || e.type === 'VMFS') && opened.size < end) {
      throw extentFail(`${show(e.fileName)}: ${opened.size} bytes, shorter than the ${end} the extent needs`);
    }
    files.push(file);
  }
  if (desc.parentFileNameHint !== undefined) await checkParent(real, desc.parentFileNameHint, desc.parentLine, scope, fail, depth);
  const only = singleFlatExtent(desc);
  if (only) {
    // XXX A flat extent at an offset would need an offset into the file
    // (nbdkit's offset filter); no VMware tool writes one, so refuse it.
    if (only.offset !== 0) throw fail(`${at(only.line)}a flat extent at offset ${only.offset} is not supported`);
    return { location: files[0]!, format: 'raw', capacity: desc.capacity };
  }
  return { location: real, format: 'vmdk', capacity: desc.capacity };
}

async function checkParent(real: string, hint: string, line: number | undefined, scope: Scope, fail: Fail, depth: number): Promise<void> {
  const parentFail: Fail = (why, cause) => fail(`${at(line)}parentFileNameHint: ${why}`, cause);
  const parent = await resolveInside(scope, hint, parentFail, path.dirname(real));
  await inspectVmdk(parent, scope, (why, cause) => parentFail(`${show(hint)}: ${why}`, cause), depth + 1);
}
