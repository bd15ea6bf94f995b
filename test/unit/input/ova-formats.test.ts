// -i ova as virt-v2v 2.2's test scripts use it (issue 10): zip files and
// xz-compressed tars accepted like the plain tar (test-v2v-i-ova-formats.sh),
// hostile zips refused as hostile tars are; manifest lines virt-v2v cannot
// parse a warning, not an error (test-v2v-i-ova-invalid-manifest*.sh), a
// bad checksum still refused; an OVF format the disk does not have set
// aside with a warning, as virt-v2v never uses it.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/steps/input/ova/manifest.js';
import { readOva, type ReadOvaOptions } from '../../../src/steps/input/ova/ova.js';
import { listZip } from '../../../src/steps/input/ova/zip.js';
import { run as runArgv } from '../../helpers/fixtures.js';
import { has } from '../../helpers/tools.js';
import { makeZip } from '../../helpers/zip.js';

/** CMD ARGS in CWD (fixtures' run, output dropped). */
const run = (cmd: string, args: string[], cwd?: string): Promise<void> => runArgv([cmd, ...args], cwd !== undefined ? { cwd } : {}).then(() => {});

const VMDK_URL = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/** One disk on SCSI, capacity in bytes; `format` as ovf:format (none: from the href). */
function ovf(capacity: number, format: string | undefined = VMDK_URL): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:capacity="${capacity}" ovf:diskId="d1" ovf:fileRef="file1"${format ? ` ovf:format="${format}"` : ''}/></DiskSection>
  <VirtualSystem ovf:id="fmt">
    <VirtualHardwareSection>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:Parent>3</rasd:Parent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!has('tar') || !has('xz') || !has('qemu-img'))('-i ova formats and manifests as virt-v2v 2.2 reads them', () => {
  let tmp: string;
  let n = 0;
  let vmdk: Buffer;
  const MiB = 1024 * 1024;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'v2v-ova-formats-'));
    await run('qemu-img', ['create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', path.join(tmp, 'disk.vmdk'), '1M']);
    vmdk = await readFile(path.join(tmp, 'disk.vmdk'));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A directory with guest.ovf, disk1.vmdk and disk1.mf (as the scripts write it: CRLF), plus the manifest's extra lines. */
  async function makeDir(o: { ovf?: string; disk?: Buffer; extra?: string[] } = {}): Promise<string> {
    const dir = path.join(tmp, `case${n++}`);
    await mkdir(dir);
    const disk = o.disk ?? vmdk;
    await writeFile(path.join(dir, 'guest.ovf'), o.ovf ?? ovf(MiB));
    await writeFile(path.join(dir, 'disk1.vmdk'), disk);
    await writeFile(path.join(dir, 'disk1.mf'), [`SHA1(disk1.vmdk)= ${sha1(disk)}\r`, ...(o.extra ?? [])].join('\n') + '\n');
    return dir;
  }
  const FILES = ['guest.ovf', 'disk1.vmdk', 'disk1.mf'];

  async function read(ova: string, opts: ReadOvaOptions = {}): Promise<{ guest: Awaited<ReturnType<typeof readOva>>; warnings: string[]; into: string }> {
    const warnings: string[] = [];
    const into = path.join(tmp, `into${n++}`);
    const guest = await readOva(ova, { extractDir: into, warn: (m) => warnings.push(m), ...opts });
    return { guest, warnings, into };
  }

  it.skipIf(!has('zip') || !has('gzip'))('reads zip, tar.xz and tar.gz OVAs as the plain tar, no warning', async () => {
    const dir = await makeDir();
    const ova = (ext: string) => path.join(tmp, `fmt${n++}.${ext}`);
    const tar = ova('ova');
    await run('tar', ['-cf', tar, ...FILES], dir);
    const plain = await read(tar);
    expect(plain.warnings).toEqual([]);
    expect(plain.guest.disks[0]).toMatchObject({ format: 'vmdk', bus: 'scsi', statedCapacity: { bytes: MiB } });
    const zip = ova('zip');
    await run('zip', ['-q', '-r', zip, ...FILES], dir);
    const xz = ova('ova');
    await run('tar', ['-cJf', xz, ...FILES], dir);
    const gz = ova('ova');
    await run('tar', ['-czf', gz, ...FILES], dir);
    for (const file of [zip, xz, gz]) {
      const r = await read(file);
      expect(r.warnings).toEqual([]);
      const [disk] = r.guest.disks;
      expect(disk!.location).toBe(path.join(r.into, 'disk1.vmdk'));
      expect((await readFile(disk!.location)).equals(vmdk)).toBe(true);
      const norm = (g: typeof r.guest) => ({ ...g, disks: g.disks.map(({ location: _l, tarRange: _t, statedCapacity, ...d }) => ({ ...d, bytes: statedCapacity?.bytes })) });
      expect(norm(r.guest)).toEqual(norm(plain.guest));
    }
  });

  it('reads a zip with deflated and stored entries in a subdirectory, backslashes as separators', async () => {
    const text = ovf(MiB);
    const zip = path.join(tmp, `hand${n++}.ova`);
    await writeFile(zip, makeZip([
      { name: 'export/', mode: 0o40755 },
      { name: 'export\\guest.ovf', data: text, deflate: true },
      { name: 'export/disk1.vmdk', data: vmdk, mode: 0o100644 },
    ]));
    const r = await read(zip);
    expect(r.guest.disks[0]!.location).toBe(path.join(r.into, 'export', 'disk1.vmdk'));
    expect(await readFile(path.join(r.into, 'export', 'guest.ovf'), 'utf8')).toBe(text);
  });

  it('refuses hostile zips: names out of the OVA, links, encrypted, bad CRC, two names; nothing written before the names pass', async () => {
    const cases: [Parameters<typeof makeZip>[0], string][] = [
      [[{ name: 'guest.ovf', data: 'x' }, { name: '../x', data: 'x' }], "member ../x has a '..' component: refused"],
      [[{ name: '/etc/x', data: 'x' }], 'member /etc/x has an absolute name: refused'],
      [[{ name: '..\\..\\x', data: 'x' }], "member ../../x has a '..' component: refused"],
      [[{ name: 'disk1.vmdk', data: '/etc/shadow', mode: 0o120777 }], 'member disk1.vmdk is a symlink: refused'],
      [[{ name: 'a', data: 'x', flags: 1 }], 'member a is encrypted: not supported'],
      [[{ name: 'a', data: 'x', localName: '../a' }], "member ../a has a '..' component: refused"],
      [[{ name: 'a', data: 'x', localName: 'b' }], 'member a: its local header names b: refused'],
      [[{ name: 'a', data: 'x' }, { name: './a', data: 'y' }], 'member a appears twice: refused'],
      [[{ name: 'a', data: 'hello', deflate: true, crc: 1 }], 'member a is corrupt: CRC-32 does not match'],
    ];
    for (const [members, why] of cases) {
      const zip = path.join(tmp, `hostile${n++}.ova`);
      await writeFile(zip, makeZip(members));
      const into = path.join(tmp, `into${n++}`);
      const err = await refusal(readOva(zip, { extractDir: into }));
      expect(err).toMatchObject({ name: 'InputError', step: 'input', message: `${zip}: ${why}` });
      if (!why.includes('CRC')) expect(await readdir(into).catch(() => [])).toEqual([]);
    }
    const junk = path.join(tmp, `junk${n++}.ova`);
    await writeFile(junk, 'PK\x03\x04 and nothing more');
    expect((await refusal(readOva(junk, { extractDir: path.join(tmp, `into${n++}`) }))).message).toBe(`${junk}: not a zip archive (no end of central directory record)`);
  });

  it('refuses a corrupt xz OVA with xz\'s own words', async () => {
    const dir = await makeDir();
    const xz = path.join(tmp, `bad${n++}.ova`);
    await run('tar', ['-cJf', xz, ...FILES], dir);
    await truncate(xz, 300);
    const err = await refusal(readOva(xz, { extractDir: path.join(tmp, `into${n++}`) }));
    expect(err).toMatchObject({ name: 'InputError', step: 'input' });
    expect(err.message).toMatch(new RegExp(`^${xz}: xz -dc: .*(Unexpected end of input|truncated)`));
  });

  it('warns of manifest lines virt-v2v cannot parse: garbage ignored, "SHA1(f)=hex" checked anyway', async () => {
    const garbage = await makeDir({ extra: ['garbage line'] });
    const tar = path.join(tmp, `mf${n++}.ova`);
    await run('tar', ['-cf', tar, ...FILES], garbage);
    expect((await read(tar)).warnings).toEqual([`unable to parse line 2 of manifest file disk1.mf in ${tar}: "garbage line" (ignored)`]);

    const ovfText = ovf(MiB);
    const good = await makeDir({ extra: [`SHA1(guest.ovf)=${sha1(ovfText)}`] });
    const goodOva = path.join(tmp, `mf${n++}.ova`);
    await run('tar', ['-cf', goodOva, ...FILES], good);
    expect((await read(goodOva)).warnings).toEqual([`unable to parse line 2 of manifest file disk1.mf in ${goodOva}: "SHA1(guest.ovf)=${sha1(ovfText)}" (checked anyway)`]);

    const bad = await makeDir({ extra: [`SHA1(guest.ovf)=${sha1('other')}`] });
    const badOva = path.join(tmp, `mf${n++}.ova`);
    await run('tar', ['-cf', badOva, ...FILES], bad);
    const err = await refusal(readOva(badOva));
    expect(err.message).toMatch(/corrupt OVA/);
    expect(err.message).toContain(`checksum of disk guest.ovf does not match manifest (SHA1: actual = ${sha1(ovfText)}, expected = ${sha1('other')})`);
  });

  it('fuzzing: a changed zip gives entries or a one-line InputError; a manifest of any text, entries and warnings', async () => {
    const good = makeZip([{ name: 'a/guest.ovf', data: 'x'.repeat(300), deflate: true }, { name: 'disk1.vmdk', data: 'y', mode: 0o100644 }]);
    const file = path.join(tmp, 'fuzz.zip');
    const bytes = fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(bytes, fc.nat(good.length), async (changes, cut) => {
        const buf = Buffer.from(good.subarray(0, Math.max(cut, good.length - 30)));
        for (const [at, v] of changes) if (at < buf.length) buf[at] = v;
        await writeFile(file, buf);
        const fh = await open(file, 'r');
        try {
          await listZip(fh, buf.length, file);
        } catch (err) {
          const e = err as Error & { step?: string };
          if (e.name !== 'InputError' || e.step !== 'input' || !e.message.startsWith(`${file}: `) || /[\n\r]/.test(e.message)) throw err;
        } finally {
          await fh.close();
        }
      }),
      { numRuns: 300 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => void parseManifest(text, 'm', () => {})));
  });

  it('caps the warnings of a manifest made of garbage', () => {
    const warnings: string[] = [];
    parseManifest(Array.from({ length: 15 }, (_, i) => `junk ${i}\u001b[31m`).join('\n'), 'm', (w) => warnings.push(w));
    expect(warnings).toHaveLength(11);
    expect(warnings[0]).toBe('unable to parse line 1 of m: "junk 0\\u001b[31m" (ignored)');
    expect(warnings[10]).toBe('unable to parse 5 more lines of m (not shown)');
  });

  it('sets aside an OVF format the disk does not have (as virt-v2v, which probes), keeps the stated capacity', async () => {
    const raw = Buffer.alloc(10 * 1024);
    for (const [format, declared] of [[VMDK_URL, 'vmdk'], ['http://example.com/qcow2', 'qcow2']]) {
      const dir = await makeDir({ ovf: ovf(50 * 1024 ** 3, format), disk: raw });
      const tar = path.join(tmp, `raw${n++}.ova`);
      await run('tar', ['-cf', tar, ...FILES], dir);
      const r = await read(tar);
      expect(r.guest.disks[0]!.format).toBeUndefined();
      expect(r.guest.disks[0]!.statedCapacity).toEqual({ bytes: 50 * 1024 ** 3, where: `${tar}: disk1.vmdk` });
      expect(r.warnings).toEqual([`${tar}: disk1.vmdk: the OVF says this disk is ${declared} but it is not (no known header): opened as qemu probes it, as virt-v2v does`]);
    }
    // A real vmdk under an OVF without ovf:format (taken from the href): kept, no warning.
    const dir = await makeDir({ ovf: ovf(MiB, undefined) });
    const tar = path.join(tmp, `ok${n++}.ova`);
    await run('tar', ['-cf', tar, ...FILES], dir);
    const r = await read(tar);
    expect([r.guest.disks[0]!.format, r.warnings]).toEqual(['vmdk', []]);
  });
});
