// -o json's NAME.json: the converted guest described for other tools, in
// the shape virt-v2v's -o json wrote it (output/create_json.ml, version 1,
// until virt-v2v 2.0 removed the mode): memory in bytes, the firmware, the
// machine, each disk with its device name, bus, format and file, the empty
// removable drives, the NICs, the guest capabilities and the inspection.
// OutputJson is the schema (zod): the writer parses what it writes, and
// other tools may parse it with the same schema. Paths are absolute.
import * as z from 'zod';
import type { MetadataOut } from '../../metadata/schema.js';
import { targetDevices } from './bus-assignment.js';
import type { OutputDiskRef } from './libvirt-xml.js';
import { guestArch } from './osinfo.js';

const Disk = z.strictObject({ dev: z.string(), bus: z.enum(['virtio', 'ide', 'sata', 'scsi']), format: z.enum(['raw', 'qcow2']), file: z.string() });
const Removable = z.union([
  z.strictObject({ type: z.literal('cdrom'), dev: z.string(), bus: z.enum(['virtio', 'ide', 'sata', 'scsi']) }),
  z.strictObject({ type: z.literal('floppy'), dev: z.string() }),
]);

export const OutputJson = z.strictObject({
  version: z.literal(1),
  name: z.string().min(1),
  /** Bytes. */
  memory: z.number().int().min(0),
  vcpu: z.number().int().min(1),
  firmware: z.strictObject({ type: z.enum(['bios', 'uefi']) }),
  machine: z.enum(['q35', 'pc']),
  disks: z.array(Disk).min(1),
  removables: z.array(Removable),
  nics: z.array(
    z.strictObject({ vnet: z.string(), 'vnet-type': z.enum(['network', 'bridge']), model: z.string().optional(), mac: z.string().optional() }),
  ),
  guestcaps: z.strictObject({
    'block-bus': z.enum(['virtio-blk', 'ide']),
    'net-bus': z.enum(['virtio-net', 'e1000', 'rtl8139']),
    machine: z.enum(['q35', 'i440fx']),
    arch: z.string(),
  }),
  /** null for a guest copied as it is (--no-convert). */
  inspect: z
    .strictObject({
      type: z.string(),
      distro: z.string().nullable(),
      osinfo: z.string().nullable(),
      arch: z.string(),
      'major-version': z.number().int(),
      'minor-version': z.number().int(),
      'product-name': z.string().nullable(),
    })
    .nullable(),
});
export type OutputJson = z.infer<typeof OutputJson>;

const orNull = (s: string) => (s === '' || s === 'unknown' ? null : s);

export function jsonMetadata(meta: MetadataOut, name: string, refs: OutputDiskRef[]): string {
  const disks: OutputJson['disks'] = [];
  const removables: OutputJson['removables'] = [];
  for (const { slot: s, bus, dev } of targetDevices(meta)) {
    if (s.kind === 'disk') {
      const ref = refs.find((r) => r.index === s.index)!;
      disks.push({ dev, bus: bus as 'virtio', format: ref.format as 'raw', file: ref.path });
    } else if (s.kind === 'cdrom') removables.push({ type: 'cdrom', dev, bus: bus as 'virtio' });
    else if (s.kind === 'floppy') removables.push({ type: 'floppy', dev });
  }
  const os = meta.os;
  const doc: OutputJson = {
    version: 1,
    name,
    memory: meta.memory,
    vcpu: meta.vcpus,
    firmware: { type: meta.firmware },
    machine: meta.machine,
    disks,
    removables,
    nics: meta.nics.map((n) => ({ vnet: n.vnet, 'vnet-type': n.vnetType, model: meta.nicModel, ...(n.mac ? { mac: n.mac.toLowerCase() } : {}) })),
    guestcaps: {
      'block-bus': meta.diskBus === 'virtio' ? 'virtio-blk' : 'ide',
      'net-bus': meta.nicModel === 'virtio' ? 'virtio-net' : meta.nicModel,
      machine: meta.machine === 'pc' ? 'i440fx' : 'q35',
      arch: guestArch(os),
    },
    inspect: os
      ? {
          type: os.type,
          distro: orNull(os.distro),
          osinfo: orNull(os.osinfo),
          arch: os.arch,
          'major-version': os.major,
          'minor-version': os.minor,
          'product-name': orNull(os.product),
        }
      : null,
  };
  return `${JSON.stringify(OutputJson.parse(doc), null, 2)}\n`;
}
