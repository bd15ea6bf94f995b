// Slow tier, issue 4: one full conversion to -o local per input type, each
// from a fixture made here out of the sample guest: a libvirt domain XML
// naming the raw image, a VMware .vmx with a monolithicFlat vmdk, and an OVA
// (tar of an OVF, a streamOptimized vmdk read in place, a SHA256 manifest).
// Each: exit 0, the sources unchanged, a libvirt XML with a virtio disk, the
// converted fstab naming /dev/vda1.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { noSampleGuest, sampleGuest, tcg } from '../helpers/guests.js';

const GiB = 1024 ** 3;

async function convertAndCheck(tmp: string, argv: string[], name: string): Promise<void> {
  const out = path.join(tmp, 'out');
  const work = path.join(tmp, 'work');
  await mkdir(out);
  await mkdir(work);
  const r = await runCli([...argv, '-o', 'local', '-os', out, '-on', name], { env: { ...tcg, TMPDIR: work } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await readdir(out)).sort()).toEqual([`${name}-sda`, `${name}.xml`]);
  const xml = await readFile(path.join(out, `${name}.xml`), 'utf8');
  expect(xml).toMatch(/<target dev=['"]vda['"] bus=['"]virtio['"]/);
  const fstab = await run(['guestfish', '--ro', '--format=raw', '-a', path.join(out, `${name}-sda`), '-i', 'cat', '/etc/fstab'], { env: tcg });
  expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
  expect(await readdir(work)).toEqual([]);
}

async function sha256Stream(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

describe.skipIf(noSampleGuest)('convert the sample guest from each input type', () => {
  test('-i libvirtxml', { timeout: 900_000 }, async ({ tmp }) => {
    const xml = path.join(tmp, 'sample.xml');
    await writeFile(
      xml,
      `<domain type='kvm'>
  <name>fromxml</name>
  <memory unit='GiB'>1</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${sampleGuest}'/><target dev='sda' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/><model type='e1000'/></interface>
  </devices>
</domain>
`,
    );
    const before = await sha256File(sampleGuest);
    await convertAndCheck(tmp, ['-i', 'libvirtxml', xml], 'fromxml');
    expect(await sha256File(sampleGuest)).toBe(before);
  });

  test('-i vmx (monolithicFlat vmdk)', { timeout: 900_000 }, async ({ tmp }) => {
    const dir = path.join(tmp, 'vm');
    await mkdir(dir);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', sampleGuest, path.join(dir, 'sample.vmdk')]);
    const vmx = path.join(dir, 'sample.vmx');
    await writeFile(
      vmx,
      [
        'displayName = "fromvmx"',
        'guestOS = "debian12-64"',
        'memsize = "1024"',
        'numvcpus = "1"',
        'scsi0.present = "TRUE"',
        'scsi0.virtualDev = "lsilogic"',
        'scsi0:0.present = "TRUE"',
        'scsi0:0.fileName = "sample.vmdk"',
        'ethernet0.present = "TRUE"',
        'ethernet0.virtualDev = "vmxnet3"',
        'ethernet0.networkName = "VM Network"',
        'ethernet0.generatedAddress = "00:0c:29:aa:bb:cc"',
        '',
      ].join('\n'),
    );
    const flat = path.join(dir, 'sample-flat.vmdk');
    const before = await sha256File(flat);
    await convertAndCheck(tmp, ['-i', 'vmx', vmx], 'fromvmx');
    expect(await sha256File(flat)).toBe(before);
  });

  test('-i ova (streamOptimized vmdk read in place, manifest)', { timeout: 900_000 }, async ({ tmp }) => {
    const dir = path.join(tmp, 'export');
    await mkdir(dir);
    const disk = path.join(dir, 'sample-disk1.vmdk');
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', sampleGuest, disk]);
    const ovf = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="sample-disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:capacity="${2 * GiB}" ovf:diskId="d1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="fromova"><Name>fromova</Name>
    <VirtualHardwareSection>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>3</rasd:Parent></Item>
      <Item><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType><rasd:Connection>VM Network</rasd:Connection><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
    await writeFile(path.join(dir, 'sample.ovf'), ovf);
    const sums = [`SHA256(sample.ovf)= ${createHash('sha256').update(ovf).digest('hex')}`, `SHA256(sample-disk1.vmdk)= ${await sha256Stream(disk)}`];
    await writeFile(path.join(dir, 'sample.mf'), `${sums.join('\n')}\n`);
    const ova = path.join(tmp, 'sample.ova');
    await run(['tar', '-C', dir, '-cf', ova, 'sample.ovf', 'sample-disk1.vmdk', 'sample.mf']);
    const before = await sha256File(ova);
    await convertAndCheck(tmp, ['-i', 'ova', ova], 'fromova');
    expect(await sha256File(ova)).toBe(before);
  });
});
