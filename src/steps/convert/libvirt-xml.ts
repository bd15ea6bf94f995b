// The libvirt domain that virt-v2v-in-place 2.2 reads for `-i libvirtxml`:
// each overlay as an NBD disk on a loopback TCP port (the only network form
// it accepts, REFERENCE.md), on the bus the source had (device renaming
// starts from it: sda on scsi/sata/ide becomes vda).
import type { MetadataIn } from '../../metadata/schema.js';
import { driveName } from '../../util/drive-name.js';

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

const BUS = { ide: 'ide', sata: 'sata', scsi: 'scsi', virtio: 'virtio', nvme: 'scsi', unknown: 'scsi' } as const;

function devName(bus: string, index: number): string {
  const prefix = bus === 'virtio' ? 'vd' : bus === 'ide' ? 'hd' : 'sd';
  return `${prefix}${driveName(index)}`;
}

export function conversionXml(m: MetadataIn, ports: number[]): string {
  const disks = m.disks.map((d, i) => {
    const bus = BUS[d.bus];
    return `    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd'><host name='localhost' port='${ports[i]}'/></source>
      <target dev='${devName(bus, d.index)}' bus='${bus}'/>
    </disk>`;
  });
  const nics = m.nics.map(
    (n) => `    <interface type='${n.vnetType}'>
      <source ${n.vnetType}='${xmlEscape(n.vnet)}'/>${n.mac ? `\n      <mac address='${xmlEscape(n.mac)}'/>` : ''}${n.model ? `\n      <model type='${xmlEscape(n.model)}'/>` : ''}
    </interface>`,
  );
  return `<domain type='kvm'>
  <name>${xmlEscape(m.name)}</name>
  <memory unit='KiB'>${Math.ceil(m.memory / 1024)}</memory>
  <vcpu>${m.vcpus}</vcpu>
  <os${m.firmware === 'uefi' ? " firmware='efi'" : ''}><type arch='x86_64'>hvm</type></os>
  <devices>
${[...disks, ...nics].join('\n')}
  </devices>
</domain>
`;
}
