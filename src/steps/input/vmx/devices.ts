// The storage devices of a .vmx: hard disks and CD-ROMs in the slots
// `scsiX:Y`, `sataX:Y`, `nvmeX:Y`, `ideX:Y`, and floppies `floppyN`.
//
// A device counts only if it says `.present = "TRUE"` (VMware, and libvirt's
// vmx driver, take an absent `present` as FALSE) and so does its controller:
// `scsiX.present`, `sataX.present`, `nvmeX.present`. The two IDE channels
// are part of the chipset and VMware writes no `ideX.present`, so an IDE
// channel counts unless it says `ideX.present = "FALSE"`. (virt-v2v only
// drops namespaces whose present is FALSE and never looks at controllers.)
//
// `.deviceType` decides the kind: absent, "disk", "plainDisk", "rawDisk",
// "scsi-hardDisk" or "ata-hardDisk" is a hard disk; "cdrom-image",
// "cdrom-raw" or "atapi-cdrom" is a CD-ROM; anything else (SCSI passthrough,
// say) is skipped with a warning, as virt-v2v skips it. virt-v2v accepts
// fewer types per bus (an IDE disk must say "ata-hardDisk", an NVMe disk
// nothing) and only IDE CD-ROMs; we accept every kind on every bus.
//
// Disk order: virt-v2v (parse_domain_from_vmx.ml, find_disks) lists SCSI,
// then NVMe, then IDE disks, each sorted by controller then unit, and does
// not read SATA disks at all. We keep its order and put SATA right after
// SCSI: both are "sd" disks to a Linux guest. Removables follow the same
// bus order, floppies last.
import type { SourceBus } from '../source.js';
import { at, show, vmxError } from './fail.js';
import type { VmxValues } from './values.js';

/** The buses a .vmx disk slot can be on. */
export type VmxBus = 'scsi' | 'sata' | 'nvme' | 'ide';
/** Guest disk order by bus (see the header comment). */
export const BUS_ORDER: readonly VmxBus[] = ['scsi', 'sata', 'nvme', 'ide'];

/** A hard disk as the .vmx names it; fileName not yet resolved. */
export interface VmxDisk {
  /** Lower case, "scsi0:0". */
  slot: string;
  bus: VmxBus;
  controller: number;
  unit: number;
  /** As written in the .vmx: relative to its directory, or absolute. */
  fileName: string;
  /** The fileName key as written ("scsi0:0.fileName") and its line, for messages. */
  key: string;
  line: number;
}

/** A CD-ROM or floppy drive; fileName only for an image file, not a host device. */
export interface VmxRemovable {
  slot: string;
  kind: 'cdrom' | 'floppy';
  bus: SourceBus;
  /** Its slot as virt-v2v counts it: an IDE drive's controller * 2 + unit; none on other buses. */
  driveSlot?: number;
  fileName?: string;
  key?: string;
  line?: number;
}

const DISK_TYPES = new Set(['disk', 'plaindisk', 'rawdisk', 'scsi-harddisk', 'ata-harddisk']);
const CDROM_TYPES = new Set(['cdrom-image', 'cdrom-raw', 'atapi-cdrom']);
// Canonical numbers only: "scsi00:0" is not a slot VMware writes.
const NUM = '(0|[1-9]\\d{0,2})';
const SLOT = new RegExp(`^(scsi|sata|nvme|ide)${NUM}:${NUM}\\.`);
const FLOPPY = new RegExp(`^floppy${NUM}\\.`);

interface Slot {
  name: string;
  bus: VmxBus;
  controller: number;
  unit: number;
}

/** The present slots of `re` in the entries, each once. */
function slotNames(v: VmxValues, re: RegExp): Map<string, RegExpExecArray> {
  const found = new Map<string, RegExpExecArray>();
  for (const key of v.entries.keys()) {
    const m = re.exec(key);
    if (m) found.set(m[0].slice(0, -1), m);
  }
  return found;
}

function controllerPresent(v: VmxValues, bus: VmxBus, controller: number): boolean {
  return v.bool(`${bus}${controller}.present`) ?? bus === 'ide';
}

/** Whether a slot's device counts; says why not in `warnings` when that is worth saying. */
function present(v: VmxValues, name: string, warnings: string[]): boolean {
  const p = v.bool(`${name}.present`);
  if (p === undefined && v.get(`${name}.fileName`)) warnings.push(`${name}: no ${name}.present = "TRUE": ignored`);
  return p === true;
}

function slots(v: VmxValues, warnings: string[]): Slot[] {
  const out: Slot[] = [];
  for (const [name, m] of slotNames(v, SLOT)) {
    const s = { name, bus: m[1] as VmxBus, controller: Number(m[2]), unit: Number(m[3]) };
    if (!present(v, name, warnings)) continue;
    if (!controllerPresent(v, s.bus, s.controller)) {
      warnings.push(`${name}: its controller ${s.bus}${s.controller} is not present: ignored`);
      continue;
    }
    out.push(s);
  }
  const rank = (s: Slot) => [BUS_ORDER.indexOf(s.bus), s.controller, s.unit];
  return out.sort((a, b) => compareTuples(rank(a), rank(b)));
}

function compareTuples(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function diskOf(v: VmxValues, s: Slot): VmxDisk {
  const e = v.get(`${s.name}.fileName`);
  const fileName = v.text(`${s.name}.fileName`);
  if (e === undefined || fileName === undefined) {
    const line = (e ?? v.get(`${s.name}.present`))?.line;
    throw vmxError(v.file, `${at(line)}${s.name}: a hard disk with no fileName`);
  }
  return { slot: s.name, bus: s.bus, controller: s.controller, unit: s.unit, fileName, key: show(e.key), line: e.line };
}

function cdromOf(v: VmxValues, s: Slot, type: string): VmxRemovable {
  const r: VmxRemovable = { slot: s.name, kind: 'cdrom', bus: s.bus, ...(s.bus === 'ide' ? { driveSlot: s.controller * 2 + s.unit } : {}) };
  const e = v.get(`${s.name}.fileName`);
  const fileName = v.text(`${s.name}.fileName`);
  // cdrom-raw and atapi-cdrom name a host device ("auto detect", "/dev/sr0").
  if (type === 'cdrom-image' && e && fileName) Object.assign(r, { fileName, key: show(e.key), line: e.line });
  return r;
}

/** Hard disks and CD-ROMs in guest order, and what was skipped. */
export function storage(v: VmxValues): { disks: VmxDisk[]; cdroms: VmxRemovable[]; warnings: string[] } {
  const warnings: string[] = [];
  const disks: VmxDisk[] = [];
  const cdroms: VmxRemovable[] = [];
  for (const s of slots(v, warnings)) {
    const type = (v.text(`${s.name}.deviceType`) ?? 'disk').toLowerCase();
    if (DISK_TYPES.has(type)) disks.push(diskOf(v, s));
    else if (CDROM_TYPES.has(type)) cdroms.push(cdromOf(v, s, type));
    else warnings.push(`${s.name}: deviceType ${show(type)} is neither a disk nor a CD-ROM: ignored`);
  }
  return { disks, cdroms, warnings };
}

/** Present floppy drives by number; an image only with fileType = "file". */
export function floppies(v: VmxValues): VmxRemovable[] {
  const out: { n: number; r: VmxRemovable }[] = [];
  for (const [name, m] of slotNames(v, FLOPPY)) {
    if (v.bool(`${name}.present`) !== true) continue;
    const r: VmxRemovable = { slot: name, kind: 'floppy', bus: 'unknown' };
    const e = v.get(`${name}.fileName`);
    const fileName = v.text(`${name}.fileName`);
    if (v.text(`${name}.fileType`)?.toLowerCase() === 'file' && e && fileName) {
      Object.assign(r, { fileName, key: show(e.key), line: e.line });
    }
    out.push({ n: Number(m[1]), r });
  }
  return out.sort((a, b) => a.n - b.n).map((x) => x.r);
}
