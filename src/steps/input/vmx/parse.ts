// Metadata of virt-v2v's `-i vmx FILE.vmx`: a VMware guest described by its
// .vmx file (key = "value" lines, see syntax.ts) with its disks in the same
// directory. parseVmxText reads the text alone (no I/O, for tests and fuzzing);
// readVmx also reads the file and checks every disk file it names, so what
// it returns can be opened as it is. Rejections are InputErrors of the input
// step, one line, starting with the .vmx's path.
//
// Guest fields, as virt-v2v's parse_domain_from_vmx.ml:
// - name: displayName, else the file's base name without extension;
// - memory: memSize MiB, default 32 MiB ("default is really 32 MB!" there);
// - vcpus: numvcpus, default 1;
// - firmware: "efi" is uefi, "bios" or none is bios. virt-v2v takes any
//   other value for BIOS with a warning; we say 'unknown' (and warn), so
//   conversion decides from what is on the disk;
// - osHint: guestOS.
import path from 'node:path';
import type { SourceInfo } from '../../../metadata/source-info.js';
import type { SourceDisk, SourceGuest, SourceNic, SourceRemovable } from '../source.js';
import { floppies, storage, type VmxDisk, type VmxRemovable } from './devices.js';
import { resolveDisk } from './disks.js';
import { at, show, vmxError } from './fail.js';
import { openRegular, resolveInside, type Fail, type Scope } from './files.js';
import { hardwareOf } from './hardware.js';
import { nics } from './nics.js';
import { readVmxFile, scopeOf } from './read.js';
import { parseLines, type VmxEntries } from './syntax.js';
import { VmxValues } from './values.js';
import { NOT_UTF8, isCleanText, showText } from '../../../util/text.js';

export type { VmxDisk, VmxRemovable, VmxBus } from './devices.js';
export type { VmxEntries, VmxEntry } from './syntax.js';
export { MAX_VMX_BYTES } from './syntax.js';

const MiB = 1024 * 1024;
const DEFAULT_MEMSIZE = 32;
/** 64 TiB: more than any VMware release allows (24 TiB). */
const MAX_MEMSIZE = 64 * 1024 * 1024;
const MAX_VCPUS = 4096;

/** What a .vmx says, before any file it names is looked at. */
export interface ParsedVmx {
  entries: VmxEntries;
  name: string;
  /** Bytes. */
  memory: number;
  vcpus: number;
  firmware: SourceGuest['firmware'];
  osHint?: string;
  /** In guest order; at least one. */
  disks: VmxDisk[];
  removables: VmxRemovable[];
  nics: SourceNic[];
  /** Hypervisor (vmware), genid, CPU topology, sound (hardware.ts). */
  info: SourceInfo;
  /** What was ignored or assumed, for the log (readVmx prefixes the file). */
  warnings: string[];
}

export interface ReadVmxOptions {
  /** Told each warning (ignored devices, assumed values), one line starting with the file. */
  warn?: (message: string) => void;
}

/** The base name of `file` without its extension. */
function nameFromFile(file: string): string {
  const base = path.basename(file);
  return path.basename(base, path.extname(base)) || base;
}

function firmware(v: VmxValues, warnings: string[]): SourceGuest['firmware'] {
  const fw = v.text('firmware')?.toLowerCase();
  if (fw === undefined || fw === 'bios') return 'bios';
  if (fw === 'efi') return 'uefi';
  warnings.push(`firmware ${JSON.stringify(fw)} is unknown`);
  return 'unknown';
}

/** Parse the text of a .vmx file (`vmxPath` is for messages and the default name). */
export function parseVmxText(text: string, vmxPath: string): ParsedVmx {
  const entries = parseLines(text, vmxPath);
  if (entries.size === 0) throw vmxError(vmxPath, `no disks found (${text.trim() === '' ? 'empty file' : 'no "key = value" lines'})`);
  const v = new VmxValues(entries, vmxPath);
  const warnings: string[] = [];
  const displayName = v.text('displayName');
  if (displayName === undefined || displayName.trim() === '') warnings.push('no displayName: the guest is named after the file');
  else if (!isCleanText(displayName)) throw vmxError(vmxPath, `${at(v.get('displayName')?.line)}displayName ${showText(displayName)}: ${NOT_UTF8}`);
  const memsize = v.int('memSize', 1, MAX_MEMSIZE) ?? DEFAULT_MEMSIZE;
  const vcpus = v.int('numvcpus', 1, MAX_VCPUS) ?? 1;
  const parsed: ParsedVmx = {
    entries,
    name: displayName?.trim() ? displayName : nameFromFile(vmxPath),
    memory: memsize * MiB,
    vcpus,
    firmware: firmware(v, warnings),
    info: hardwareOf(v, vcpus, warnings),
    disks: [],
    removables: [],
    nics: nics(v),
    warnings,
  };
  const osHint = v.text('guestOS');
  if (osHint !== undefined) parsed.osHint = osHint;
  const found = storage(v);
  warnings.push(...found.warnings);
  if (found.disks.length === 0) throw vmxError(vmxPath, 'no disks found');
  parsed.disks = found.disks;
  parsed.removables = [...found.cdroms, ...floppies(v)];
  return parsed;
}

/**
 * An image in a removable drive: its real path if it is a file in the
 * .vmx's directory, else none (an empty drive). ESXi guests often point at
 * ISOs on another datastore; that is no reason to refuse the guest, and
 * virt-v2v does not carry removable media over at all.
 */
async function resolveRemovable(r: VmxRemovable, scope: Scope, warn: (m: string) => void): Promise<SourceRemovable> {
  const out: SourceRemovable = { kind: r.kind, bus: r.bus, ...(r.driveSlot !== undefined ? { slot: r.driveSlot } : {}) };
  if (r.fileName === undefined) return out;
  const fail: Fail = (why) => vmxError(scope.vmx, `${at(r.line)}${r.key}: ${why}`);
  try {
    const real = await resolveInside(scope, r.fileName, fail);
    await (await openRegular(real, (why) => fail(`${show(r.fileName!)}: ${why}`))).handle.close();
    out.location = real;
  } catch (err) {
    warn(`${(err as Error).message}: the ${r.kind} drive is left empty`);
  }
  return out;
}

/** The SourceGuest of a parsed .vmx, once its disks and removables are resolved. */
export function guestOf(parsed: ParsedVmx, disks: SourceDisk[], removables: SourceRemovable[]): SourceGuest {
  const guest: SourceGuest = { ...parsed.info, name: parsed.name, memory: parsed.memory, vcpus: parsed.vcpus, firmware: parsed.firmware, disks, removables, nics: parsed.nics };
  if (parsed.osHint !== undefined) guest.osHint = parsed.osHint;
  return guest;
}

/** Read, parse and check a .vmx file and the disks it names. */
export async function readVmx(vmxPath: string, opts: ReadVmxOptions = {}): Promise<SourceGuest> {
  const warn = opts.warn ?? (() => {});
  const parsed = parseVmxText(await readVmxFile(vmxPath), vmxPath);
  parsed.warnings.forEach((w) => warn(`${show(vmxPath)}: ${w}`));
  const scope = await scopeOf(vmxPath);
  const disks = [];
  for (const d of parsed.disks) disks.push(await resolveDisk(d, scope));
  const removables = [];
  for (const r of parsed.removables) removables.push(await resolveRemovable(r, scope, warn));
  const guest = guestOf(parsed, disks, removables);
  return guest;
}
