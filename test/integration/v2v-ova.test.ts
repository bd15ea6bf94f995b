// `-i ova` through the whole job (issue 4): an OVA made here with tar (an
// OVF, a streamOptimized vmdk read in place inside the tar, a gzip-compressed
// vmdk decompressed into the work dir, a SHA256 manifest), the same unpacked
// into a directory, copied with --no-convert and compared byte for byte; a
// manifest mismatch refused with one line, nothing left behind; a declared
// capacity that disagrees with the disk a warning (virt-v2v never checks
// it), the disk copied at its own size.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { test, run, sha256File } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const MiB = 1024 * 1024;

function ovf(cap1: number, cap2: number): string {
  const item = (id: number, type: number, body: string) =>
    `      <Item><rasd:InstanceID>${id}</rasd:InstanceID><rasd:ResourceType>${type}</rasd:ResourceType>${body}</Item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="ova-disk1.vmdk" ovf:id="file1"/>
    <File ovf:href="ova-disk2.vmdk.gz" ovf:id="file2" ovf:compression="gzip"/>
  </References>
  <DiskSection>
    <Disk ovf:capacity="${cap1}" ovf:diskId="d1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="${cap2}" ovf:diskId="d2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="ovaguest">
    <Name>ovaguest</Name>
    <VirtualHardwareSection>
${item(1, 3, '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>')}
${item(2, 4, '<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>1536</rasd:VirtualQuantity>')}
${item(3, 6, '<rasd:Address>0</rasd:Address><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>')}
${item(4, 17, '<rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>3</rasd:Parent>')}
${item(5, 17, '<rasd:AddressOnParent>1</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:Parent>3</rasd:Parent>')}
${item(6, 10, '<rasd:Address>00:50:56:ab:cd:ef</rasd:Address><rasd:Connection>VM Network</rasd:Connection><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>')}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

function oneError(r: CliResult, re: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy') || !has('tar');

describe.skipIf(needs)('v2v -i ova', () => {
  /** DIR with the OVF, the disks and a manifest; returns the raw images the disks hold. */
  async function makeExport(dir: string, opts: { cap1?: number; badSum?: boolean } = {}): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const raws = [path.join(dir, '..', 'r1.img'), path.join(dir, '..', 'r2.img')];
    await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', `${64 * MiB}`, 'percent=30', 'seed=11', ']', raws[0]!]);
    await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', `${32 * MiB}`, 'percent=30', 'seed=12', ']', raws[1]!]);
    const d1 = path.join(dir, 'ova-disk1.vmdk');
    const d2 = path.join(dir, 'ova-disk2.vmdk');
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raws[0]!, d1]);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raws[1]!, d2]);
    await writeFile(`${d2}.gz`, gzipSync(await readFile(d2)));
    await run(['rm', '-f', d2]);
    await writeFile(path.join(dir, 'ovaguest.ovf'), ovf(opts.cap1 ?? 64 * MiB, 32 * MiB));
    const sum = async (f: string) => createHash('sha256').update(await readFile(path.join(dir, f))).digest('hex');
    const files = ['ovaguest.ovf', 'ova-disk1.vmdk', 'ova-disk2.vmdk.gz'];
    const lines = await Promise.all(files.map(async (f, i) => `SHA256(${f})= ${opts.badSum && i === 1 ? '0'.repeat(64) : await sum(f)}`));
    await writeFile(path.join(dir, 'ovaguest.mf'), `${lines.join('\n')}\n`);
    return raws;
  }

  async function tarUp(dir: string, ova: string): Promise<void> {
    await run(['tar', '-C', dir, '-cf', ova, 'ovaguest.ovf', 'ova-disk1.vmdk', 'ova-disk2.vmdk.gz', 'ovaguest.mf']);
  }

  test('an OVA tar (disks read in place, a gzip disk), its unpacked directory, the OVA gzipped: metadata and bytes', async ({ tmp }) => {
    const dir = path.join(tmp, 'export');
    const raws = await makeExport(dir);
    const ova = path.join(tmp, 'ovaguest.ova');
    await tarUp(dir, ova);
    const before = await sha256File(ova);

    const p = await runCli(['-i', 'ova', ova, '--print-source', '--machine-readable']);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const src = p.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; source?: Record<string, unknown> })
      .find((e) => e.type === 'source')!.source!;
    expect(src).toMatchObject({ name: 'ovaguest', input: 'ova', memory: 1536 * MiB, vcpus: 2, firmware: 'bios' });
    expect((src.disks as { size: number; bus: string }[]).map((d) => [d.size, d.bus])).toEqual([
      [64 * MiB, 'scsi'],
      [32 * MiB, 'scsi'],
    ]);
    expect(src.nics).toEqual([{ vnet: 'VM Network', vnetType: 'bridge', mac: '00:50:56:ab:cd:ef', model: 'vmxnet3' }]);

    // The whole OVA gzip-compressed: unpacked into a private dir under $TMPDIR for the job.
    const gzOva = path.join(tmp, 'ovaguest-gz.ova');
    await writeFile(gzOva, gzipSync(await readFile(ova)));
    for (const from of [ova, dir, gzOva]) {
      const out = path.join(tmp, `out-${path.basename(from)}`);
      const work = path.join(tmp, `work-${path.basename(from)}`);
      await mkdir(out);
      await mkdir(work);
      const logs = path.join(tmp, `logs-${path.basename(from)}`);
      const r = await runCli(['-i', 'ova', from, '-o', 'local', '-os', out, '--no-convert', '-q', '--log-dir', logs], { env: { TMPDIR: work } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // Inside the tar, disk 1 is served in place (qemu's offset/size); disk 2 was decompressed.
      const inputLog = await readFile(path.join(logs, 'input.log'), 'utf8');
      if (from === ova) expect(inputLog).toMatch(/qemu-nbd[^\n]*json:\{[^\n]*\\"offset\\":/);
      expect(inputLog).toMatch(/"msg":"decompressed"/);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', raws[0]!, path.join(out, 'ovaguest-sda')]);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', raws[1]!, path.join(out, 'ovaguest-sdb')]);
      expect(await readdir(work)).toEqual([]);
    }
    expect(await sha256File(ova)).toBe(before);
  });

  test('a manifest that does not match: one line, exit 1, nothing left; a capacity that disagrees: a warning, the real size', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    const bad = path.join(tmp, 'bad');
    await makeExport(bad, { badSum: true });
    const badOva = path.join(tmp, 'bad.ova');
    await tarUp(bad, badOva);
    oneError(await runCli(['-i', 'ova', badOva, '-o', 'local', '-os', out], { env: { TMPDIR: work } }), /^v2v: error: -i ova: corrupt OVA: \S*bad\.ova: checksum of disk ova-disk1\.vmdk does not match manifest \(SHA256: actual = [0-9a-f]{64}, expected = 0{64}\)$/);

    const cap = path.join(tmp, 'cap');
    await makeExport(cap, { cap1: 32 * MiB });
    const capOva = path.join(tmp, 'cap.ova');
    await tarUp(cap, capOva);
    expect(await readdir(out)).toEqual([]);
    expect((await readdir(work)).filter((d) => !d.startsWith('v2v-log-'))).toEqual([]);
    const r = await runCli(['-i', 'ova', capOva, '-o', 'local', '-os', out, '--no-convert'], { env: { TMPDIR: work } });
    expect(r.code).toBe(0);
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('warning'));
    expect(said).toEqual([`v2v: warning: ${capOva}: ova-disk1.vmdk: the OVF says the disk's capacity is ${32 * MiB} bytes but it has ${64 * MiB} bytes: copied at its own size`]);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(cap, '..', 'r1.img'), path.join(out, 'ovaguest-sda')]);
    expect((await stat(path.join(out, 'ovaguest-sda'))).size).toBe(64 * MiB);
  });
});
