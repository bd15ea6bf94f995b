// Disks that reach outside what the user named (issue 9, section 2): what an
// image names besides itself, read from its header without qemu
// (image-refs.ts) and compared with what qemu-img reports; OVAs made here
// with tar whose disks name files outside the OVA (refused, one line) or
// inside it (opened through a json: spec naming exactly those members);
// `-i disk` backing chains (backing.ts): shown, remote levels refused
// unless allowed.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.js';
import { backingChain } from '../../../src/steps/input/backing.js';
import { tarMemberSpec } from '../../../src/steps/input/disk-check.js';
import { imageRefs, withFileBytes } from '../../../src/steps/input/image-refs.js';
import { readOva } from '../../../src/steps/input/ova/ova.js';
import { parseDescriptor } from '../../../src/steps/input/vmx/vmdk.js';
import { has, rejectionOf, thrownBy } from '../../helpers/tools.js';

const MiB = 1024 * 1024;

function run(argv: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err}`))));
  });
}

const fail = (why: string) => new InputError(`t: ${why}`);
const refsOf = (file: string, format?: string) => withFileBytes(file, fail, (b) => imageRefs(b, format, fail));

/** An OVF with one disk, HREF, of CAPACITY bytes (no ovf:format: the format is read from the member). */
function ovf(href: string, capacity = MiB): string {
  const item = (id: number, type: number, body: string) =>
    `<Item><rasd:InstanceID>${id}</rasd:InstanceID><rasd:ResourceType>${type}</rasd:ResourceType>${body}</Item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="${href}" ovf:id="f1"/></References>
  <DiskSection><Disk ovf:capacity="${capacity}" ovf:diskId="d1" ovf:fileRef="f1"/></DiskSection>
  <VirtualSystem ovf:id="g"><Name>g</Name><VirtualHardwareSection>
    ${item(1, 3, '<rasd:VirtualQuantity>1</rasd:VirtualQuantity>')}
    ${item(2, 4, '<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>512</rasd:VirtualQuantity>')}
    ${item(3, 6, '<rasd:Address>0</rasd:Address>')}
    ${item(4, 17, '<rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>3</rasd:Parent>')}
  </VirtualHardwareSection></VirtualSystem>
</Envelope>
`;
}

/** A flat VMDK descriptor naming EXTENT (and PARENT). */
function descriptor(extent: string, extra = ''): string {
  return `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${extra}\nRW 2048 FLAT "${extent}" 0\n`;
}

describe.skipIf(!has('qemu-img') || !has('tar'))('disks that name other files', () => {
  let tmp: string;
  let n = 0;
  /** A file outside every OVA made here, with bytes a leak would show. */
  let secret: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'v2v-backing-test-'));
    secret = path.join(tmp, 'secret.raw');
    await writeFile(secret, Buffer.alloc(MiB, 'SECRET-OUTSIDE-THE-OVA '));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A new directory; `make` fills it with the disk files (commands run in it). */
  async function exportDir(make: (dir: string) => Promise<unknown>): Promise<string> {
    const dir = path.join(tmp, `case${n++}`);
    await mkdir(dir);
    await make(dir);
    return dir;
  }

  /** An unpacked OVA (DIR, with an OVF naming HREF) and the same tarred: [ova, dir]. */
  async function ova(href: string, files: string[], make: (dir: string) => Promise<unknown>): Promise<[string, string]> {
    const dir = await exportDir(make);
    await writeFile(path.join(dir, 'g.ovf'), ovf(href));
    const tar = `${dir}.ova`;
    await run(['tar', '-cf', tar, '-C', dir, 'g.ovf', ...files]);
    return [tar, dir];
  }

  const qemuImg = (dir: string, ...args: string[]) => run(['qemu-img', 'create', '-q', ...args], dir);

  async function refusal(file: string): Promise<string> {
    const err = await rejectionOf(readOva(file));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).not.toMatch(/\n/);
    return err.message;
  }

  describe('image headers, read without qemu (image-refs.ts)', () => {
    it('qcow2, qcow and qed backing files with their formats, as qemu-img info reads them', async () => {
      const dir = await exportDir(async (d) => {
        await writeFile(path.join(d, 'base.raw'), Buffer.alloc(MiB));
        await qemuImg(d, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'a.qcow2');
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', 'nbd://127.0.0.1:10809/x', '-F', 'raw', 'b.qcow2', '1M');
        await qemuImg(d, '-f', 'qcow', '-b', 'base.raw', '-F', 'raw', 'c.qcow');
        await qemuImg(d, '-f', 'qed', '-b', 'base.raw', '-F', 'raw', 'd.qed');
      });
      const info = async (f: string) => JSON.parse(await run(['qemu-img', 'info', '--output=json', '-U', f], dir)) as Record<string, string>;
      for (const f of ['a.qcow2', 'b.qcow2', 'c.qcow', 'd.qed']) {
        const head = await refsOf(path.join(dir, f));
        const qemu = await info(path.join(dir, f));
        expect(head.format).toBe(qemu.format);
        expect(head.refs).toEqual([
          { kind: 'backing file', name: qemu['backing-filename'], ...(qemu['backing-filename-format'] ? { format: qemu['backing-filename-format'] } : {}) },
        ]);
      }
      // -if raw: a raw disk names nothing, whatever its bytes look like.
      expect((await refsOf(path.join(dir, 'a.qcow2'), 'raw')).refs).toEqual([]);
    });

    it('a qcow2 external data file', async () => {
      const dir = await exportDir((d) => qemuImg(d, '-f', 'qcow2', '-o', 'data_file=data.raw', 'a.qcow2', '1M'));
      expect((await refsOf(path.join(dir, 'a.qcow2'))).refs).toEqual([{ kind: 'data file', name: 'data.raw' }]);
    });

    it('vmdk: a sparse file\'s parent, a descriptor\'s extents and parent', async () => {
      const dir = await exportDir(async (d) => {
        await qemuImg(d, '-f', 'vmdk', 'p.vmdk', '1M');
        await qemuImg(d, '-f', 'vmdk', '-b', 'p.vmdk', '-F', 'vmdk', 'c.vmdk');
        await writeFile(path.join(d, 'd.vmdk'), descriptor('flat.raw', 'parentFileNameHint="p.vmdk"'));
      });
      expect((await refsOf(path.join(dir, 'c.vmdk'))).refs).toEqual([{ kind: 'backing file', name: 'p.vmdk', format: 'vmdk' }]);
      expect(await refsOf(path.join(dir, 'd.vmdk'))).toEqual({
        format: 'vmdk',
        refs: [
          { kind: 'extent', name: 'flat.raw', extentType: 'FLAT' },
          { kind: 'backing file', name: 'p.vmdk', format: 'vmdk' },
        ],
      });
    });

    it('a descriptor whose parentFileNameHint hides in a comment (qemu follows it): refused', () => {
      const text = descriptor('flat.raw', '# parentFileNameHint="/etc/shadow"');
      expect(thrownBy(() => parseDescriptor(text, fail)).message).toBe(
        't: qemu would read the parentFileNameHint as "/etc/shadow", not as "": refused',
      );
    });
  });

  describe('-i ova: a disk may name only members of the OVA', () => {
    it('a qcow2 member backed by /etc/shadow: refused', async () => {
      const [tar, dir] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', 'disk1.qcow2', '1M'));
      for (const f of [tar, dir]) {
        expect(await refusal(f)).toBe(`${f}: disk1.qcow2: backing file /etc/shadow is an absolute path: refused (an OVA's disks may name only files inside the OVA)`);
      }
    });

    it('a qcow2 member backed by a file beside the OVA (../): refused', async () => {
      const [tar] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', '../secret.raw', '-F', 'raw', 'disk1.qcow2', '1M'));
      expect(await refusal(tar)).toMatch(/: disk1\.qcow2: backing file \.\.\/secret\.raw is outside the OVA: refused/);
    });

    it('a vmdk member whose descriptor has an absolute extent: refused', async () => {
      const [tar, dir] = await ova('disk1.vmdk', ['disk1.vmdk'], (d) => writeFile(path.join(d, 'disk1.vmdk'), descriptor(secret)));
      for (const f of [tar, dir]) {
        expect(await refusal(f)).toBe(`${f}: disk1.vmdk: extent ${secret} is an absolute path: refused (an OVA's disks may name only files inside the OVA)`);
      }
    });

    it('a vmdk member with a parentFileNameHint outside the OVA: refused', async () => {
      await qemuImg(tmp, '-f', 'vmdk', 'parent.vmdk', '1M');
      const [tar] = await ova('disk1.vmdk', ['disk1.vmdk'], (d) => qemuImg(d, '-f', 'vmdk', '-b', path.join(tmp, 'parent.vmdk'), '-F', 'vmdk', 'disk1.vmdk'));
      expect(await refusal(tar)).toBe(
        `${tar}: disk1.vmdk: backing file ${path.join(tmp, 'parent.vmdk')} is an absolute path: refused (an OVA's disks may name only files inside the OVA)`,
      );
    });

    it('a two-level chain whose second level escapes: refused, as a tar and as a directory', async () => {
      const [tar, dir] = await ova('top.qcow2', ['top.qcow2', 'mid.qcow2'], async (d) => {
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', '../secret.raw', '-F', 'raw', 'mid.qcow2', '1M');
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', '1M');
      });
      for (const f of [tar, dir]) {
        expect(await refusal(f)).toBe(
          `${f}: top.qcow2: backing file mid.qcow2: backing file ../secret.raw is outside the OVA: refused (an OVA's disks may name only files inside the OVA)`,
        );
      }
    });

    it('a json: backing filename: refused', async () => {
      const spec = `json:{"driver":"raw","file":{"driver":"file","filename":"${secret}"}}`;
      const [tar] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', spec, '-F', 'raw', 'disk1.qcow2', '1M'));
      expect(await refusal(tar)).toBe(`${tar}: disk1.qcow2: backing file ${spec} is a json: spec: refused (an OVA's disks may name only files inside the OVA)`);
    });

    it('an nbd:// and an http:// backing file: refused', async () => {
      for (const url of ['nbd://127.0.0.1:10809/x', 'http://127.0.0.1/x.img']) {
        const [tar] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', url, '-F', 'raw', 'disk1.qcow2', '1M'));
        expect(await refusal(tar)).toMatch(new RegExp(`: disk1\\.qcow2: backing file ${url.replace(/[./]/g, '\\$&')} is a URL \\(${url.split(':')[0]}\\): refused`));
      }
    });

    it('a qcow2 data file outside the OVA: refused', async () => {
      const [tar] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-o', `data_file=${path.join(tmp, 'data-outside.raw')}`, 'disk1.qcow2', '1M'));
      expect(await refusal(tar)).toBe(
        `${tar}: disk1.qcow2: data file ${path.join(tmp, 'data-outside.raw')} is an absolute path: refused (an OVA's disks may name only files inside the OVA)`,
      );
    });

    it('a backing file inside the OVA: allowed, opened through a spec that names that member and nothing else', async () => {
      const [tar, dir] = await ova('top.qcow2', ['top.qcow2', 'base.raw'], async (d) => {
        await writeFile(path.join(d, 'base.raw'), Buffer.alloc(MiB, 'base'));
        await qemuImg(d, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'top.qcow2');
      });
      const inTar = (await readOva(tar)).disks[0]!;
      expect(inTar).toMatchObject({ location: tar, format: 'qcow2', tarRange: expect.any(Object) });
      const spec = JSON.parse(inTar.image!.slice('json:'.length)) as { backing: Record<string, unknown> };
      // The backing node is the member's bytes of the .ova, raw: its own file names the .ova, so qemu reads no name from the header.
      expect(spec).toMatchObject({ driver: 'qcow2', file: { driver: 'raw', file: { filename: tar } } });
      expect(spec.backing).toEqual({ driver: 'raw', offset: expect.any(Number), size: MiB, file: { driver: 'file', filename: tar } });
      const inDir = (await readOva(dir)).disks[0]!;
      expect(JSON.parse(inDir.image!.slice('json:'.length))).toEqual({
        driver: 'qcow2',
        file: { driver: 'file', filename: path.join(dir, 'top.qcow2') },
        backing: { driver: 'raw', file: { driver: 'file', filename: path.join(dir, 'base.raw') }, backing: null },
      });
      // qemu reads the chain through either spec: the base's bytes show through.
      for (const image of [inTar.image!, inDir.image!]) {
        expect(await run(['qemu-io', '-r', '-c', 'read -P 0x62 0 1', image])).toMatch(/read 1\/1 bytes/);
      }
    });

    it('a qcow2 backing file inside a tar: refused (cannot be read in place); in a directory: allowed', async () => {
      const [tar, dir] = await ova('top.qcow2', ['top.qcow2', 'mid.qcow2', 'base.raw'], async (d) => {
        await writeFile(path.join(d, 'base.raw'), Buffer.alloc(MiB));
        await qemuImg(d, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'mid.qcow2');
        await qemuImg(d, '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
      });
      expect(await refusal(tar)).toBe(
        `${tar}: top.qcow2: backing file mid.qcow2: a qcow2 backing file inside a tar OVA cannot be read in place: not supported (unpack the OVA into a directory)`,
      );
      expect((await readOva(dir)).disks[0]!.image).toMatch(/mid\.qcow2.*base\.raw/);
    });

    it('a member that names nothing is read in place as before, opened with "backing": null', async () => {
      const [tar] = await ova('disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', 'disk1.qcow2', '1M'));
      const disk = (await readOva(tar)).disks[0]!;
      expect(disk).toEqual({ location: tar, tarRange: expect.any(Object), format: 'qcow2', bus: 'scsi', statedCapacity: { bytes: MiB, where: `${tar}: disk1.qcow2` } });
      expect(JSON.parse(tarMemberSpec(disk.location, disk.tarRange!, disk.format).slice('json:'.length))).toEqual({
        driver: 'qcow2',
        file: { driver: 'raw', offset: disk.tarRange!.offset, size: Math.ceil(disk.tarRange!.size / 512) * 512, file: { driver: 'file', filename: tar } },
        backing: null,
      });
    });
  });

  describe('-i disk: the backing chain (backing.ts)', () => {
    const opts = (allowRemote: boolean) => ({ allowRemote, fail: (why: string) => new InputError(`input: disk d: ${why}`) });

    it('a qcow2 over a qcow2 over a raw file: the chain, top first', async () => {
      const dir = await exportDir(async (d) => {
        await writeFile(path.join(d, 'base.raw'), Buffer.alloc(MiB));
        await qemuImg(d, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'mid.qcow2');
        await qemuImg(d, '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
      });
      expect(await backingChain(path.join(dir, 'top.qcow2'), undefined, opts(false))).toEqual([path.join(dir, 'mid.qcow2'), path.join(dir, 'base.raw')]);
      expect(await backingChain(path.join(dir, 'base.raw'), undefined, opts(false))).toEqual([]);
    });

    it('nbd:// and json: backing files: refused without allowRemote; with it, the remote level ends the chain', async () => {
      const json = 'json:{"driver":"nbd","server":{"type":"unix","path":"/tmp/x.sock"}}';
      const dir = await exportDir(async (d) => {
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', 'nbd://127.0.0.1:10809/x', '-F', 'raw', 'nbd.qcow2', '1M');
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', json, '-F', 'raw', 'json.qcow2', '1M');
        await qemuImg(d, '-f', 'qcow2', '-b', 'nbd.qcow2', '-F', 'qcow2', '-u', 'top.qcow2', '1M');
      });
      const f = (name: string) => path.join(dir, name);
      expect((await rejectionOf(backingChain(f('nbd.qcow2'), undefined, opts(false)))).message).toBe(
        'input: disk d: backing file nbd://127.0.0.1:10809/x is a network location (nbd): refused without --allow-remote-backing',
      );
      expect((await rejectionOf(backingChain(f('json.qcow2'), undefined, opts(false)))).message).toBe(
        `input: disk d: backing file ${json} is a json: spec (driver nbd): refused without --allow-remote-backing`,
      );
      expect((await rejectionOf(backingChain(f('top.qcow2'), undefined, opts(false)))).message).toBe(
        `input: disk d: backing file ${f('nbd.qcow2')}: backing file nbd://127.0.0.1:10809/x is a network location (nbd): refused without --allow-remote-backing`,
      );
      expect(await backingChain(f('top.qcow2'), undefined, opts(true))).toEqual([f('nbd.qcow2'), 'nbd://127.0.0.1:10809/x']);
      expect(await backingChain(f('json.qcow2'), undefined, opts(true))).toEqual([json]);
    });

    it('a chain that loops, a backing file that is missing: refused', async () => {
      const dir = await exportDir(async (d) => {
        await qemuImg(d, '-f', 'qcow2', 'a.qcow2', '1M');
        await qemuImg(d, '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', 'b.qcow2');
        await run(['qemu-img', 'rebase', '-u', '-b', 'b.qcow2', '-F', 'qcow2', 'a.qcow2'], d);
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', 'gone.raw', '-F', 'raw', 'c.qcow2', '1M');
      });
      expect((await rejectionOf(backingChain(path.join(dir, 'a.qcow2'), undefined, opts(false)))).message).toBe(
        `input: disk d: backing file ${path.join(dir, 'b.qcow2')}: backing file ${path.join(dir, 'a.qcow2')}: the backing chain loops back here`,
      );
      expect((await rejectionOf(backingChain(path.join(dir, 'c.qcow2'), undefined, opts(false)))).message).toBe(
        `input: disk d: backing file ${path.join(dir, 'gone.raw')}: No such file or directory`,
      );
    });
  });
});
