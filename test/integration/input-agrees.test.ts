// One input step, three drivers: `v2v input ...` (the step subcommand) and
// `v2v ... --print-source` (the whole job, stopped after input) read every
// input with the same plan, so metadata.in in the work dir and the printed
// source agree field by field, for every input type and every input option
// (-if, -on, -n, -b, --mac; -i libvirt through libvirt's test driver). Regression: `v2v input -i disk X -n br0` used to
// write network "default" where --print-source said "br0".
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { makeRaw, processesUsing, run, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, sourceOf } from '../helpers/cli.js';

const MiB = 1024 * 1024;
const MAP = ['-n', 'lan', '-b', 'br0:br9', '--mac', '52:54:00:00:00:02:network:special'];

async function inputStep(args: string[], work: string): Promise<Record<string, unknown>> {
  const r = await runCli(['input', ...args], { env: { TMPDIR: work } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const dir = r.stdout.trim();
  const meta = JSON.parse(await readFile(path.join(dir, 'metadata.in'), 'utf8')) as Record<string, unknown>;
  const c = await runCli(['cleanup', dir]);
  expect(c.code, c.stderr).toBe(0);
  expect(processesUsing(dir)).toEqual([]);
  return meta;
}

async function agree(args: string[], work: string): Promise<Record<string, unknown>> {
  const step = await inputStep(args, work);
  const p = await runCli([...args, '--print-source', '--machine-readable'], { env: { TMPDIR: work } });
  expect(p.code, p.stderr).toBe(0);
  expect(sourceOf(p)).toEqual(step);
  return step;
}

describe.skipIf(!has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('tar'))('v2v input agrees with --print-source', () => {
  test('-i disk with -if, -on and every network option', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 1);
    const m = await agree(['-i', 'disk', '-if', 'raw', a, ...MAP], tmp);
    expect(m.nics).toEqual([{ vnet: 'lan', vnetType: 'network' }]);
    const bare = await agree(['-i', 'disk', a, '-n', 'br0'], tmp);
    expect(bare.nics).toEqual([{ vnet: 'br0', vnetType: 'network' }]);
    const named = await agree(['-i', 'disk', a, '-on', 'renamed'], tmp);
    expect(named.name).toBe('renamed');
  });

  test('-i libvirtxml with -n, -b and --mac', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 2);
    const xml = path.join(tmp, 'g.xml');
    await writeFile(
      xml,
      `<domain type='kvm'><name>lx</name><memory unit='MiB'>1024</memory><vcpu>2</vcpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='a.img'/><target dev='sda' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='e1000'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:03'/><source bridge='br0'/></interface>
  </devices></domain>`,
    );
    const m = await agree(['-i', 'libvirtxml', xml, ...MAP], tmp);
    expect((m.nics as { vnet: string }[]).map((n) => n.vnet)).toEqual(['lan', 'special', 'br9']);
    // The same domain through libvirt's test driver (-i libvirt): the same source but for "input"
    // and the hypervisor, which is the test driver's.
    if (!has('virsh')) return;
    const node = path.join(tmp, 'node.xml');
    await writeFile(node, `<node>${(await readFile(xml, 'utf8')).replace("type='kvm'", "type='test'").replace('<devices>', '<os><type>hvm</type></os><devices>')}</node>`);
    const l = await agree(['-i', 'libvirt', '-ic', `test://${node}`, 'lx', ...MAP, '-on', 'lv'], tmp);
    expect(l).toEqual({ ...m, input: 'libvirt', name: 'lv', hypervisor: 'test' });
  });

  test('-i vmx and -i ova with network options', async ({ tmp }) => {
    const dir = path.join(tmp, 'vm');
    await mkdir(dir);
    const raw = path.join(tmp, 'r.img');
    await makeRaw(raw, 8, 3);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', raw, path.join(dir, 'd.vmdk')]);
    const vmx = path.join(dir, 'g.vmx');
    await writeFile(
      vmx,
      ['displayName = "vg"', 'memsize = "512"', 'scsi0.present = "TRUE"', 'scsi0:0.present = "TRUE"', 'scsi0:0.fileName = "d.vmdk"',
        'ethernet0.present = "TRUE"', 'ethernet0.networkName = "VM Network"', 'ethernet0.addressType = "static"', 'ethernet0.address = "00:50:56:00:00:01"', ''].join('\n'),
    );
    expect(((await agree(['-i', 'vmx', vmx, ...MAP], tmp)).nics as { vnet: string }[])[0]!.vnet).toBe('lan');

    const ovf = `<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="d.vmdk" ovf:id="f1"/></References>
  <DiskSection><Disk ovf:capacity="${8 * MiB}" ovf:diskId="d1" ovf:fileRef="f1"/></DiskSection>
  <VirtualSystem ovf:id="og"><Name>og</Name><VirtualHardwareSection>
    <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
    <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>1</rasd:Parent></Item>
    <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType><rasd:Connection>VM Network</rasd:Connection></Item>
  </VirtualHardwareSection></VirtualSystem>
</Envelope>
`;
    await writeFile(path.join(dir, 'og.ovf'), ovf);
    const sum = createHash('sha256').update(await readFile(path.join(dir, 'd.vmdk'))).digest('hex');
    await writeFile(path.join(dir, 'og.mf'), `SHA256(d.vmdk)= ${sum}\n`);
    const ova = path.join(tmp, 'og.ova');
    await run(['tar', '-C', dir, '-cf', ova, 'og.ovf', 'd.vmdk', 'og.mf']);
    expect((await agree(['-i', 'ova', ova, ...MAP, '-on', 'ov'], tmp)).name).toBe('ov');
  });
});
