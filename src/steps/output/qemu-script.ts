// The boot script of -o qemu (NAME.sh), as virt-v2v 2.2's output_qemu.ml
// writes it: `qemu-system-x86_64` with the converted machine, memory, vCPUs,
// output disks, the source's (empty) CD-ROM and floppy drives, one user-mode
// NIC per source NIC, its sound card and the virtio extras, then "$@" so that
// later options (say `-machine accel=tcg`) override ours. Two layers of
// quoting: qemu's option syntax (a "," in a value is written ",,") inside sh
// single quotes.
import type { MetadataOut } from '../../metadata/schema.js';
import { targetBuses } from './bus-assignment.js';
import type { OutputDiskRef } from './libvirt-xml.js';
import type { Ovmf } from './ovmf.js';

/** One sh word: single-quoted, an embedded ' written '\''. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A value inside a qemu -opt key=value,... list. */
export function qemuOptValue(s: string): string {
  return s.replace(/,/g, ',,');
}

// The firmware pair is found by ovmf.ts (re-exported for older importers).
export { findOvmf, type Ovmf } from './ovmf.js';

/**
 * The source's CD-ROMs and floppies, empty, where target_bus_assignment
 * put them (bus-assignment.ts), as output_qemu.ml adds them: a CD-ROM on the
 * IDE bus (AHCI on q35, one unit a port) or on a virtio-scsi HBA, floppies on
 * an isa-fdc (built into pc, added on q35).
 */
export function removableArgs(meta: MetadataOut): [string, string][] {
  const b = targetBuses(meta);
  const args: [string, string][] = [];
  b.ide.forEach((s, i) => {
    if (s.kind === 'cdrom') args.push(['-drive', `if=ide,index=${i},media=cdrom`]);
  });
  if (b.scsi.some((s) => s.kind === 'cdrom')) args.push(['-device', 'virtio-scsi-pci,id=scsi0']);
  b.scsi.forEach((s, i) => {
    if (s.kind !== 'cdrom') return;
    args.push(['-drive', `if=none,id=drive-scsi-${i},media=cdrom`]);
    args.push(['-device', `scsi-cd,bus=scsi0.0,lun=${i},drive=drive-scsi-${i}`]);
  });
  if (meta.machine === 'q35' && b.floppy.some((s) => s.kind === 'floppy')) args.push(['-device', 'isa-fdc,id=floppy-bus']);
  b.floppy.forEach((s, i) => {
    if (s.kind !== 'floppy') return;
    args.push(['-drive', `if=none,id=drive-floppy-${i},media=disk`]);
    args.push(['-device', `floppy,bus=floppy-bus.0,unit=${i},drive=drive-floppy-${i}`]);
  });
  return args;
}

// output_qemu.ml's sound devices. Left out: pcspk (virt-v2v's -soundhw is
// gone from qemu) and usb-audio (it needs a USB controller virt-v2v never adds).
const SOUND_DEVICES: Record<string, string[]> = {
  ac97: ['AC97'],
  es1370: ['ES1370'],
  ich6: ['intel-hda', 'hda-duplex'],
  ich9: ['ich9-intel-hda'],
  sb16: ['sb16'],
};

const NIC_DEVICE = { virtio: 'virtio-net-pci', e1000: 'e1000', rtl8139: 'rtl8139' } as const;

export function qemuScript(meta: MetadataOut, name: string, disks: OutputDiskRef[], ovmf: Ovmf): string {
  const virtio = meta.diskBus === 'virtio';
  // One line of the command each: [option, value?, sh word?]; a value is
  // sh-quoted here, a sh word (it expands a variable) is written as is.
  const args: [string, string?, string?][] = [['-no-user-config'], ['-name', `guest=${qemuOptValue(name)}`]];
  // No -nodefaults: SeaBIOS then fails to boot from virtio-blk (REFERENCE.md).
  args.push(['-machine', `${meta.machine},accel=kvm:tcg`]);
  const uefi = meta.firmware === 'uefi';
  if (uefi) {
    args.push(['-drive', `if=pflash,format=raw,readonly=on,file=${qemuOptValue(ovmf.code)}`]);
    args.push(['-drive', undefined, '"if=pflash,format=raw,file=$uefi_vars"']);
  }
  args.push(['-m', String(Math.max(1, Math.floor(meta.memory / (1024 * 1024))))]);
  args.push(['-smp', String(meta.vcpus)]);
  // if=ide is IDE on pc and the AHCI (SATA) controller on q35.
  const iface = virtio ? 'virtio' : 'ide';
  disks.forEach((d, slot) => {
    args.push(['-drive', `file=${qemuOptValue(d.path)},format=${d.format},if=${iface},index=${slot},media=disk`]);
  });
  args.push(...removableArgs(meta));
  if (meta.nics.length === 0) args.push(['-nic', 'none']);
  meta.nics.forEach((n, i) => {
    args.push(['-netdev', `user,id=net${i}`]);
    args.push(['-device', `${NIC_DEVICE[meta.nicModel]},netdev=net${i}${n.mac ? `,mac=${n.mac.toLowerCase()}` : ''}`]);
  });
  for (const d of SOUND_DEVICES[meta.sound ?? 'none'] ?? []) args.push(['-device', d]);
  if (virtio) {
    args.push(['-object', 'rng-random,filename=/dev/urandom,id=rng0']);
    args.push(['-device', 'virtio-rng-pci,rng=rng0']);
    args.push(['-device', 'virtio-balloon']);
  }
  if (meta.os?.type === 'windows') {
    args.push(['-vga', 'std']);
  } else {
    args.push(['-display', 'none']);
    args.push(['-serial', 'stdio']);
  }

  const lines = [
    '#!/bin/sh -',
    `# Boots the guest converted by v2v-engine. Extra arguments go to qemu after`,
    '# these, so they win: e.g. -machine accel=tcg, -display gtk, -snapshot.',
    '',
  ];
  if (uefi) {
    lines.push(
      '# UEFI variables: a private copy of the template for this run.',
      'uefi_vars="$(mktemp)" || exit 1',
      `trap 'rm -f "$uefi_vars"' EXIT`,
      `cp ${shQuote(ovmf.vars)} "$uefi_vars" || exit 1`,
      '',
    );
  }
  // With a trap to run afterwards, sh must stay; otherwise qemu replaces it.
  lines.push(`${uefi ? '' : 'exec '}qemu-system-x86_64 \\`);
  for (const [opt, val, word] of args) {
    const v = val !== undefined ? ` ${shQuote(val)}` : word !== undefined ? ` ${word}` : '';
    lines.push(`    ${opt}${v} \\`);
  }
  lines.push('    "$@"', '');
  return lines.join('\n');
}
