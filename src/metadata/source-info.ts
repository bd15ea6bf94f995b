// What the source's metadata says about the guest's virtual hardware beyond
// disks and NICs: virt-v2v's source record (lib/types.ml: s_hypervisor,
// s_genid, s_cpu_*, s_features, s_display, s_sound). Every field is
// optional in metadata.in (older files have none); absent means the source
// did not say. `--print-source` prints them as virt-v2v 2.2 does
// (src/cli/print-source.ts); conversion and output may use them.
import * as z from 'zod';

export const CpuTopologyIn = z
  .strictObject({
    sockets: z.number().int().min(1),
    cores: z.number().int().min(1).describe('cores per socket'),
    threads: z.number().int().min(1).describe('threads per core'),
  })
  .describe("the source's CPU topology");
export type CpuTopologyIn = z.infer<typeof CpuTopologyIn>;

export const DisplayListenIn = z
  .strictObject({
    type: z.enum(['address', 'network', 'socket', 'none']),
    /** The address, network name or socket path; absent for 'none' and an automatic socket. */
    value: z.string().optional(),
  })
  .describe("where the source's display listens (libvirt <listen>, or <graphics listen=...> as an address)");

export const DisplayIn = z
  .strictObject({
    type: z.enum(['window', 'vnc', 'spice']),
    keymap: z.string().optional(),
    password: z.boolean().default(false).describe('the source display has a password (never copied into metadata.in)'),
    listen: DisplayListenIn.optional(),
    port: z.number().int().min(1).max(65535).optional().describe('a fixed port (autoport=no)'),
  })
  .describe("the source's first graphical display (libvirt <graphics>); -i disk says 'window'");
export type DisplayIn = z.infer<typeof DisplayIn>;

/** Sound card models, named as libvirt names them (virt-v2v's source_sound_model). */
export const SoundModel = z.enum(['ac97', 'es1370', 'ich6', 'ich9', 'pcspk', 'sb16', 'usb']);
export type SoundModel = z.infer<typeof SoundModel>;

/** Spread into MetadataIn: the source's hardware as its metadata describes it. */
export const sourceInfoFields = {
  hypervisor: z
    .string()
    .optional()
    .describe("the source's hypervisor as virt-v2v names it: libvirt's <domain type> (kvm, qemu, xen, test, ...), vmware (-i vmx, -i ova), unknownhv (-i disk)"),
  genid: z.string().optional().describe('the VM generation ID (a UUID: libvirt <genid>, or vm.genid/vm.genidX of a .vmx)'),
  cpuVendor: z.string().optional().describe('libvirt <cpu><vendor>'),
  cpuModel: z.string().optional().describe('libvirt <cpu><model>'),
  cpuTopology: CpuTopologyIn.optional(),
  features: z
    .array(z.string())
    .optional()
    .describe('hypervisor features the source enables (libvirt <features> children: acpi, apic, pae, ...), in the source\'s order'),
  display: DisplayIn.optional(),
  sound: SoundModel.optional().describe("the source's first sound card"),
  virtioScsi: z
    .boolean()
    .optional()
    .describe("the source has a virtio-scsi controller (libvirt <controller model='virtio-scsi'>): its 'scsi' disks and drives are on virtio-scsi"),
};

export const SourceInfo = z.strictObject(sourceInfoFields);
export type SourceInfo = z.infer<typeof SourceInfo>;
