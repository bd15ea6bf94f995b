// metadata.in and metadata.out: the two files of the temp-dir contract
// (docs/ARCHITECTURE.md) that other tools read, so they are versioned JSON
// with a zod schema each. Version 1. Sizes in bytes. A reader must refuse a
// version it does not know.
import * as z from 'zod';
import { SoundModel, sourceInfoFields } from './source-info.js';

export const METADATA_VERSION = 1;

export const Firmware = z.enum(['bios', 'uefi', 'unknown']);
export type Firmware = z.infer<typeof Firmware>;

/** The bus a disk hangs off in the source (what device renaming starts from). */
export const SourceBus = z.enum(['ide', 'sata', 'scsi', 'virtio', 'nvme', 'unknown']);

export const DiskIn = z.strictObject({
  /** 0, 1, ...: the overlay is the Unix socket `in<index>` in the work dir. */
  index: z.number().int().min(0),
  /** Socket file name relative to the work dir ("in0"). */
  socket: z.string().regex(/^in\d+$/),
  /** Where the data comes from (a path, or a URI for remote sources). */
  source: z.string(),
  /** The source's format as read (raw, qcow2, vmdk, ...); the overlay serves raw. */
  format: z.string(),
  /** Virtual size in bytes. */
  size: z.number().int().min(0),
  bus: SourceBus,
  /**
   * In-place conversion: the overlay in the work dir that takes the
   * conversion's writes, and the disk (path or NBD URI, of FORMAT) it is
   * committed into once the conversion succeeded (src/steps/convert/commit.ts).
   */
  commit: z
    .strictObject({ overlay: z.string().regex(/^in\d+\.overlay\.qcow2$/), target: z.string().min(1), format: z.string().regex(/^[a-z0-9]+$/) })
    .optional(),
  /** The backing chain under `source`, top first (`-i disk`); absent when there is none. */
  backing: z
    .array(z.string())
    .optional()
    .describe(
      'the backing files qemu reads under the source, top first: local paths as qemu opens them, or a remote name as the image spells it (allowed by --allow-remote-backing); absent when the disk has none',
    ),
});
export type DiskIn = z.infer<typeof DiskIn>;

export const NicIn = z.strictObject({
  mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i).optional(),
  model: z.string().optional(),
  /** A libvirt network or a bridge name, as the source calls it. */
  vnet: z.string(),
  vnetType: z.enum(['network', 'bridge']),
});
export type NicIn = z.infer<typeof NicIn>;

/**
 * A CD-ROM or floppy drive of the source (virt-v2v's source_removable): not
 * copied (its medium is not part of the guest), but kept as an empty drive
 * in the output. `slot` is its index on its controller, when known.
 */
export const RemovableIn = z.strictObject({
  kind: z.enum(['cdrom', 'floppy']),
  bus: SourceBus.optional(),
  slot: z.number().int().min(0).optional(),
});
export type RemovableIn = z.infer<typeof RemovableIn>;

export const MetadataIn = z.strictObject({
  version: z.literal(METADATA_VERSION),
  kind: z.literal('v2v-metadata-in'),
  /** The guest's name in the source. */
  name: z.string().min(1),
  /** Which input made this: "disk", "libvirtxml", "vmx", "ova". */
  input: z.string(),
  memory: z.number().int().min(0),
  vcpus: z.number().int().min(1),
  firmware: Firmware,
  disks: z.array(DiskIn).min(1),
  nics: z.array(NicIn),
  /** CD-ROM and floppy drives, in the source's order. */
  removables: z.array(RemovableIn).default([]),
  /** Hypervisor, genid, CPU, features, display, sound (source-info.ts); each optional. */
  ...sourceInfoFields,
});
export type MetadataIn = z.infer<typeof MetadataIn>;

export const GuestOs = z.strictObject({
  /** libguestfs inspection: "linux", "windows", ... */
  type: z.string(),
  distro: z.string(),
  major: z.number().int(),
  minor: z.number().int(),
  arch: z.string(),
  product: z.string(),
  /** libosinfo short id when known ("debian12"), else "". */
  osinfo: z.string(),
});
export type GuestOs = z.infer<typeof GuestOs>;

export const MetadataOut = z.strictObject({
  version: z.literal(METADATA_VERSION),
  kind: z.literal('v2v-metadata-out'),
  name: z.string().min(1),
  /** Whether the guest was converted (false with --no-convert). */
  converted: z.boolean(),
  /** null when the guest was not inspected (--no-convert). */
  os: GuestOs.nullable(),
  firmware: z.enum(['bios', 'uefi']),
  machine: z.enum(['q35', 'pc']),
  memory: z.number().int().min(0),
  vcpus: z.number().int().min(1),
  /** The guest has virtio drivers: then virtio-blk and virtio-net. */
  diskBus: z.enum(['virtio', 'sata', 'ide']),
  nicModel: z.enum(['virtio', 'e1000', 'rtl8139']),
  disks: z.array(z.strictObject({ index: z.number().int().min(0), size: z.number().int().min(0) })).min(1),
  nics: z.array(NicIn),
  /** The source's CD-ROM and floppy drives, kept as empty drives in the output. */
  removables: z.array(RemovableIn).default([]),
  /** The source's sound card, kept (qemu supports every model virt-v2v reads). */
  sound: SoundModel.optional(),
});
export type MetadataOut = z.infer<typeof MetadataOut>;

/** What the convert step learnt about the guest. */
export interface GuestFacts {
  converted: boolean;
  os: GuestOs | null;
  uefi: boolean;
  /** The converted guest's buses and machine (virt-v2v's guest capabilities). */
  diskBus: MetadataOut['diskBus'];
  nicModel: MetadataOut['nicModel'];
  machine: MetadataOut['machine'];
}

/** metadata.out for a source and what conversion found (or assumed). */
export function metadataOutFor(m: MetadataIn, name: string, g: GuestFacts): MetadataOut {
  return MetadataOut.parse({
    version: METADATA_VERSION,
    kind: 'v2v-metadata-out',
    name,
    converted: g.converted,
    os: g.os,
    firmware: m.firmware === 'uefi' || g.uefi ? 'uefi' : 'bios',
    machine: g.machine,
    memory: m.memory,
    vcpus: m.vcpus,
    diskBus: g.diskBus,
    nicModel: g.nicModel,
    disks: m.disks.map((d) => ({ index: d.index, size: d.size })),
    nics: m.nics,
    removables: m.removables,
    ...(m.sound ? { sound: m.sound } : {}),
  });
}

/** metadata.out for a guest copied as it is (--no-convert): already at home on KVM. */
export function unconvertedMetadata(m: MetadataIn, name: string): MetadataOut {
  return metadataOutFor(m, name, { converted: false, os: null, uefi: false, diskBus: 'virtio', nicModel: 'virtio', machine: 'q35' });
}
