// `v2v -i ova` on the OVAs virt-v2v 2.2's test scripts make (issue 10):
// test-v2v-i-ova-formats.sh's zip, tar.gz and tar.xz give the same source
// as the plain tar (a 10 KiB raw disk under an OVF that says a 50 GiB
// streamOptimized vmdk: warnings, the real size); a zip reaching out of the
// OVA refused; the manifests of test-v2v-i-ova-invalid-manifest{1,2}.sh and
// test-v2v-i-ova-bad-sha1.sh: a warning virt-v2v's words ("unable to parse
// line"), a no-space line still checked, a bad checksum "corrupt OVA".
import { createHash } from 'node:crypto';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { makeZip } from '../helpers/zip.js';

const item = (id: number, type: number, body: string) => `<Item><rasd:InstanceID>${id}</rasd:InstanceID><rasd:ResourceType>${type}</rasd:ResourceType>${body}</Item>`;

/** test-v2v-i-ova-formats.ovf, trimmed, with this disk (href, the capacity attributes, ovf:format). */
function ovf(o: { href: string; capacity: string; format?: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References><File ovf:href="${o.href}" ovf:id="file1" ovf:size="7804077568"/></References>
  <DiskSection><Disk ${o.capacity} ovf:diskId="vmdisk1" ovf:fileRef="file1"${o.format ? ` ovf:format="${o.format}"` : ''}/></DiskSection>
  <VirtualSystem ovf:id="2K8R2EESP1_2_Medium">
    <Name>2K8R2EESP1_2_Medium</Name>
    <VirtualHardwareSection>
      ${item(1, 3, '<rasd:VirtualQuantity>1</rasd:VirtualQuantity>')}
      ${item(2, 4, '<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>1024</rasd:VirtualQuantity>')}
      ${item(3, 6, '<rasd:Address>0</rasd:Address><rasd:ResourceSubType>lsilogicsas</rasd:ResourceSubType>')}
      ${item(4, 5, '<rasd:Address>1</rasd:Address>')}
      ${item(8, 15, '<rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:Parent>4</rasd:Parent>')}
      ${item(9, 17, '<rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:Parent>3</rasd:Parent>')}
      ${item(11, 10, '<rasd:Connection>PG-VLAN60</rasd:Connection><rasd:ResourceSubType>E1000</rasd:ResourceSubType>')}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const said = (r: CliResult, word: string) => `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(word));

interface Source {
  disks: { source: string; format: string; size: number }[];
  [k: string]: unknown;
}

function source(r: CliResult): { source: Source; warnings: string[] } {
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; source?: Source; message?: string });
  return { source: events.find((e) => e.type === 'source')!.source!, warnings: events.filter((e) => e.type === 'warning').map((e) => e.message!) };
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('tar') || !has('xz') || !has('zip') || !has('gzip');

describe.skipIf(needs)('v2v -i ova as virt-v2v 2.2\'s test scripts use it', () => {
  test('test-v2v-i-ova-formats.sh: zip, tar.gz and tar.xz give the same source as the tar; the real size, with warnings', async ({ tmp }) => {
    const d = path.join(tmp, 'formats');
    await mkdir(d);
    const OVF = 'test-v2v-i-ova-formats.ovf';
    await writeFile(path.join(d, OVF), ovf({ href: 'disk1.vmdk', capacity: 'ovf:capacity="50" ovf:capacityAllocationUnits="byte * 2^30"', format: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized' }));
    await writeFile(path.join(d, 'disk1.vmdk'), '');
    await truncate(path.join(d, 'disk1.vmdk'), 10 * 1024);
    await writeFile(path.join(d, 'disk1.mf'), `SHA1(disk1.vmdk)= ${sha1(Buffer.alloc(10 * 1024))}\r\n`);
    const files = [OVF, 'disk1.vmdk', 'disk1.mf'];
    const ova = (f: string) => path.join(tmp, f);
    await run(['tar', '-C', d, '-cf', ova('test-tar.ova'), ...files]);
    await run(['sh', '-c', 'cd "$1" && shift && zip -q -r test "$@" && mv test.zip "$0"', ova('test-zip.ova'), d, ...files]);
    await run(['tar', '-C', d, '-czf', ova('test-tar-gz.ova'), ...files]);
    await run(['tar', '-C', d, '-cJf', ova('test-tar-xz.ova'), ...files]);

    const sources: unknown[] = [];
    for (const f of ['test-tar.ova', 'test-zip.ova', 'test-tar-gz.ova', 'test-tar-xz.ova']) {
      const r = await runCli(['-i', 'ova', ova(f), '--print-source', '--machine-readable'], { env: { TMPDIR: tmp } });
      expect([r.code, r.stderr]).toEqual([0, '']);
      const { source: s, warnings } = source(r);
      expect(s.disks.map((x) => [x.format, x.size])).toEqual([['raw', 10 * 1024]]);
      expect(warnings).toEqual([
        `${ova(f)}: disk1.vmdk: the OVF says this disk is vmdk but it is not (no known header): opened as qemu probes it, as virt-v2v does`,
        `${ova(f)}: disk1.vmdk: the OVF says the disk's capacity is ${50 * 1024 ** 3} bytes but it has ${10 * 1024} bytes: copied at its own size`,
      ]);
      sources.push({ ...s, disks: s.disks.map(({ source: _s, ...x }) => x) });
    }
    expect(sources[0]).toMatchObject({ name: '2K8R2EESP1_2_Medium', memory: 1024 ** 3, vcpus: 1, firmware: 'uefi', nics: [{ vnet: 'PG-VLAN60', vnetType: 'bridge', model: 'e1000' }] });
    for (const s of sources.slice(1)) expect(s).toEqual(sources[0]);
  });

  test('a zip whose member names ../x: refused, one line, exit 1', async ({ tmp }) => {
    const zip = path.join(tmp, 'up.ova');
    await writeFile(zip, makeZip([{ name: 'guest.ovf', data: ovf({ href: 'disk1.vmdk', capacity: '' }), deflate: true }, { name: '../x', data: 'x' }]));
    const r = await runCli(['-i', 'ova', zip, '--print-source'], { env: { TMPDIR: tmp } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^v2v: (error: )?input: ${zip}: member \\.\\./x has a '\\.\\.' component: refused$`))]);
  });

  test('test-v2v-i-ova-invalid-manifest{1,2}.sh and bad-sha1.sh: warnings, and the checksums still checked', async ({ tmp }) => {
    const d = path.join(tmp, 'mf');
    await mkdir(d);
    await run(['qemu-img', 'create', '-q', '-f', 'vmdk', path.join(d, 'disk.vmdk'), '1M']);
    await writeFile(path.join(d, 'test.ovf'), ovf({ href: 'disk.vmdk', capacity: 'ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^20"' }));
    const ovfSum = sha1(await readFile(path.join(d, 'test.ovf')));
    const diskSum = sha1(await readFile(path.join(d, 'disk.vmdk')));
    const wrong = diskSum.replace(/[0-9a-f]/g, (c) => '0123456789abcdef'[15 - parseInt(c, 16)]!);
    let n = 0;
    /** test.ova with test.mf holding these lines after the OVF's; v2v --print-source on it. */
    const v2v = async (...lines: string[]): Promise<CliResult & { ova: string }> => {
      await writeFile(path.join(d, 'test.mf'), [`SHA1(test.ovf)= ${ovfSum}`, ...lines].join('\n') + '\n');
      const ova = path.join(tmp, `test${n++}.ova`);
      await run(['tar', '-C', d, '-cf', ova, 'test.ovf', 'disk.vmdk', 'test.mf']);
      return { ...(await runCli(['-i', 'ova', ova, '--print-source'], { env: { TMPDIR: tmp } })), ova };
    };

    const good = await v2v(`SHA1(disk.vmdk)= ${diskSum}`);
    expect([good.code, said(good, 'warning')]).toEqual([0, []]);

    const garbage = await v2v(`SHA1(disk.vmdk)= ${diskSum}`, 'garbage line');
    expect(garbage.code).toBe(0);
    expect(said(garbage, 'warning')).toEqual([`v2v: warning: unable to parse line 3 of manifest file test.mf in ${garbage.ova}: "garbage line" (ignored)`]);

    const noSpace = await v2v(`SHA1(disk.vmdk)=${diskSum}`);
    expect(noSpace.code).toBe(0);
    expect(said(noSpace, 'warning')).toEqual([`v2v: warning: unable to parse line 2 of manifest file test.mf in ${noSpace.ova}: "SHA1(disk.vmdk)=${diskSum}" (checked anyway)`]);

    // Where virt-v2v ignores the line (and would copy a corrupt disk), the checksum is still checked.
    for (const line of [`SHA1(disk.vmdk)=${wrong}`, `SHA1(disk.vmdk)= ${wrong}`]) {
      const bad = await v2v(line);
      expect(bad.code).toBe(1);
      const errors = bad.stderr.trim().split('\n');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('error: -i ova: corrupt OVA');
      expect(errors[0]).toContain(`checksum of disk disk.vmdk does not match manifest (SHA1: actual = ${diskSum}, expected = ${wrong})`);
    }
  });
});
