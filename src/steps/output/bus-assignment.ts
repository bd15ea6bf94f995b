// Where the output disks and the source's removable drives go, as virt-v2v
// 2.2's convert/target_bus_assignment.ml places them: the disks first, in
// order, on the converted bus (virtio-blk, or IDE: SATA on q35); then the
// CD-ROMs and floppies that name a slot, then the others, each in its slot
// or the next free one on its bus. A CD-ROM's bus follows its source
// controller: IDE (or none known) to IDE, virtio to virtio-blk, SCSI, SATA
// and NVMe to SCSI; floppies to the floppy bus.
import type { MetadataOut, RemovableIn } from '../../metadata/schema.js';
import { driveName } from '../../util/drive-name.js';

export type BusSlot = { kind: 'empty' } | { kind: 'disk'; index: number } | { kind: 'cdrom' | 'floppy' };

export interface TargetBuses {
  virtio: BusSlot[];
  /** IDE, written as SATA on q35. */
  ide: BusSlot[];
  scsi: BusSlot[];
  floppy: BusSlot[];
  /** Removables that could not have their slot (virt-v2v's warning). */
  moved: { kind: 'cdrom' | 'floppy'; slot: number }[];
}

function busOf(r: RemovableIn, b: TargetBuses): BusSlot[] {
  if (r.kind === 'floppy') return b.floppy;
  switch (r.bus) {
    case 'virtio':
      return b.virtio;
    case 'scsi':
    case 'sata':
    case 'nvme':
      return b.scsi;
    default:
      return b.ide; // none known: virt-v2v's "wild guess, but should be safe"
  }
}

/** Put SLOT at I or the first free index after it; true if it got I. */
function insertAfter(bus: BusSlot[], i: number, slot: BusSlot): boolean {
  let j = i;
  while (j < bus.length && bus[j]!.kind !== 'empty') j++;
  while (bus.length <= j) bus.push({ kind: 'empty' });
  bus[j] = slot;
  return j === i;
}

export function targetBuses(meta: MetadataOut): TargetBuses {
  const b: TargetBuses = { virtio: [], ide: [], scsi: [], floppy: [], moved: [] };
  const diskBus = meta.diskBus === 'virtio' ? b.virtio : b.ide;
  for (const [i, d] of meta.disks.entries()) diskBus[i] = { kind: 'disk', index: d.index };
  const removables = meta.removables ?? [];
  const assign = (rs: RemovableIn[]) => {
    for (const r of rs) {
      const bus = busOf(r, b);
      if (r.slot === undefined) insertAfter(bus, 0, { kind: r.kind });
      else if (!insertAfter(bus, r.slot, { kind: r.kind })) b.moved.push({ kind: r.kind, slot: r.slot });
    }
  };
  assign(removables.filter((r) => r.slot !== undefined));
  assign(removables.filter((r) => r.slot === undefined));
  return b;
}

/** virt-v2v's warning for a removable moved off its slot. */
export function movedWarning(m: { kind: 'cdrom' | 'floppy'; slot: number }): string {
  const what = m.kind === 'cdrom' ? 'CD-ROM' : 'floppy disk';
  return (
    `removable ${what} device in slot ${m.slot} clashes with another disk, so it has been moved to a higher numbered slot on the same bus.  ` +
    'This may mean that this removable device has a different name inside the guest (for example a CD-ROM originally called /dev/hdc might move to /dev/hdd, or from D: to E: on a Windows guest).'
  );
}

/** One slot of one bus, with the bus's name and the device name it gives the slot. */
export interface TargetDevice {
  slot: BusSlot;
  bus: 'virtio' | 'ide' | 'sata' | 'scsi' | 'floppy';
  /** The slot's index on its bus. */
  index: number;
  /** vda, hdc, sdb, fda, ... */
  dev: string;
}

/**
 * Every slot of every bus, in the order virt-v2v's outputs list them:
 * virtio (vdX), IDE (hdX; on q35, which has no IDE controller, the SATA
 * controller: sdX), SCSI (sdX), floppy (fdX). Empty slots included.
 */
export function targetDevices(meta: MetadataOut): TargetDevice[] {
  const b = targetBuses(meta);
  const ide = meta.machine === 'q35' ? (['sata', 'sd'] as const) : (['ide', 'hd'] as const);
  const buses = [[b.virtio, 'virtio', 'vd'], [b.ide, ide[0], ide[1]], [b.scsi, 'scsi', 'sd'], [b.floppy, 'floppy', 'fd']] as const;
  return buses.flatMap(([slots, bus, prefix]) => slots.map((slot, index) => ({ slot, bus, index, dev: `${prefix}${driveName(index)}` })));
}
