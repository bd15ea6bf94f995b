// Disks that reach outside what the user named (issue 9, section 2), through
// the built `v2v` as a user runs it. -i ova: OVAs made here with tar whose
// disk names a file outside the OVA with known bytes (a backing file, a
// vmdk extent, the second level of a chain, a json: spec, the backing file
// of a gzip member) are refused with one line, exit 1, nothing left, and
// those bytes reach no output; a backing file inside the OVA is allowed and
// the output is the chain's bytes. -i disk: a backing chain is allowed and
// shown by --print-source --machine-readable and `v2v input` (the text is
// virt-v2v 2.2's, which names no disk file); nbd:// and
// json: backing files are refused unless --allow-remote-backing.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { test, run } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, sourceOf, type CliResult } from '../helpers/cli.js';

const MiB = 1024 * 1024;
const SECRET = 'SECRET-BYTES-OUTSIDE-THE-OVA ';

function oneError(r: CliResult, re: RegExp): string {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  return lines[0]!;
}

/** An OVF with one disk, HREF (gzip-compressed if GZ). */
function ovf(href: string, gz = false): string {
  const item = (id: number, type: number, body: string) =>
    `<Item><rasd:InstanceID>${id}</rasd:InstanceID><rasd:ResourceType>${type}</rasd:ResourceType>${body}</Item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="${href}" ovf:id="f1"${gz ? ' ovf:compression="gzip"' : ''}/></References>
  <DiskSection><Disk ovf:capacity="${MiB}" ovf:diskId="d1" ovf:fileRef="f1"/></DiskSection>
  <VirtualSystem ovf:id="hostile"><Name>hostile</Name><VirtualHardwareSection>
    ${item(1, 3, '<rasd:VirtualQuantity>1</rasd:VirtualQuantity>')}
    ${item(2, 4, '<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>512</rasd:VirtualQuantity>')}
    ${item(3, 6, '<rasd:Address>0</rasd:Address>')}
    ${item(4, 17, '<rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>3</rasd:Parent>')}
  </VirtualHardwareSection></VirtualSystem>
</Envelope>
`;
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy') || !has('tar');

describe.skipIf(needs)('disks that reach outside what the user named', () => {
  interface Case {
    tmp: string;
    out: string;
    work: string;
    secret: string;
  }

  /** out/ and work/ ($TMPDIR) to check nothing is left, and a file outside every OVA, with known bytes. */
  async function setUp(tmp: string): Promise<Case> {
    const c = { tmp, out: path.join(tmp, 'out'), work: path.join(tmp, 'work'), secret: path.join(tmp, 'secret.raw') };
    await mkdir(c.out);
    await mkdir(c.work);
    await writeFile(c.secret, Buffer.alloc(MiB, SECRET));
    return c;
  }

  /** The export directory NAME with an OVF naming HREF, made by `make` (commands run in it), and the same tarred. */
  async function ova(c: Case, name: string, href: string, files: string[], make: (dir: string) => Promise<unknown>, gz = false): Promise<{ tar: string; dir: string }> {
    const dir = path.join(c.tmp, name);
    await mkdir(dir);
    await make(dir);
    await writeFile(path.join(dir, 'hostile.ovf'), ovf(href, gz));
    const tar = path.join(c.tmp, `${name}.ova`);
    await run(['tar', '-cf', tar, '-C', dir, 'hostile.ovf', ...files]);
    return { tar, dir };
  }

  const qemuImg = (dir: string, ...args: string[]) => run(['sh', '-c', 'cd "$0" && exec qemu-img create -q "$@"', dir, ...args]);

  /** Converting FROM is refused with one line matching RE; the outside bytes reach no output and nothing is left. */
  async function refused(c: Case, from: string, re: RegExp): Promise<string> {
    const line = oneError(await runCli(['-i', 'ova', from, '-o', 'local', '-os', c.out, '--no-convert', '-q'], { env: { TMPDIR: c.work } }), re);
    expect(await readdir(c.out)).toEqual([]);
    expect((await readdir(c.work)).filter((d) => !d.startsWith('v2v-log-'))).toEqual([]);
    return line;
  }

  test('OVA: a qcow2 disk backed by a file outside it (known bytes): refused, and those bytes reach no output', async ({ tmp }) => {
    const c = await setUp(tmp);
    const { tar, dir } = await ova(c, 'abs', 'disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', c.secret, '-F', 'raw', 'disk1.qcow2', '1M'));
    for (const from of [tar, dir]) {
      const line = await refused(c, from, /^v2v: error: input: .*: disk1\.qcow2: backing file .*secret\.raw is an absolute path: refused \(an OVA's disks may name only files inside the OVA\)$/);
      expect(line).toBe(`v2v: error: input: ${from}: disk1.qcow2: backing file ${c.secret} is an absolute path: refused (an OVA's disks may name only files inside the OVA)`);
    }
    // The same with the header pointing beside the OVA, and at /etc/shadow.
    const rel = await ova(c, 'rel', 'disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', '../secret.raw', '-F', 'raw', 'disk1.qcow2', '1M'));
    await refused(c, rel.tar, /: disk1\.qcow2: backing file \.\.\/secret\.raw is outside the OVA: refused/);
    const shadow = await ova(c, 'shadow', 'disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', '/etc/shadow', '-F', 'raw', 'disk1.qcow2', '1M'));
    await refused(c, shadow.tar, /: disk1\.qcow2: backing file \/etc\/shadow is an absolute path: refused/);
  });

  test('OVA: a vmdk descriptor whose extent is an absolute path: refused', async ({ tmp }) => {
    const c = await setUp(tmp);
    const desc = `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "${c.secret}" 0\n`;
    const { tar, dir } = await ova(c, 'extent', 'disk1.vmdk', ['disk1.vmdk'], (d) => writeFile(path.join(d, 'disk1.vmdk'), desc));
    for (const from of [tar, dir]) await refused(c, from, new RegExp(`: disk1\\.vmdk: extent ${c.secret.replace(/[./]/g, '\\$&')} is an absolute path: refused`));
  });

  test('OVA: a two-level chain whose second level escapes: refused', async ({ tmp }) => {
    const c = await setUp(tmp);
    const { tar, dir } = await ova(c, 'two', 'top.qcow2', ['top.qcow2', 'mid.qcow2'], async (d) => {
      await qemuImg(d, '-f', 'qcow2', '-u', '-b', '../secret.raw', '-F', 'raw', 'mid.qcow2', '1M');
      await qemuImg(d, '-f', 'qcow2', '-u', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', '1M');
    });
    for (const from of [tar, dir]) await refused(c, from, /: top\.qcow2: backing file mid\.qcow2: backing file \.\.\/secret\.raw is outside the OVA: refused/);
  });

  test('OVA: a json: backing filename: refused', async ({ tmp }) => {
    const c = await setUp(tmp);
    const spec = `json:{"driver":"raw","file":{"driver":"file","filename":"${c.secret}"}}`;
    const { tar } = await ova(c, 'json', 'disk1.qcow2', ['disk1.qcow2'], (d) => qemuImg(d, '-f', 'qcow2', '-u', '-b', spec, '-F', 'raw', 'disk1.qcow2', '1M'));
    await refused(c, tar, /: disk1\.qcow2: backing file json:\{.*\} is a json: spec: refused/);
  });

  test('OVA: a gzip-compressed qcow2 disk with a backing file: refused once decompressed', async ({ tmp }) => {
    const c = await setUp(tmp);
    const { tar } = await ova(
      c,
      'gz',
      'disk1.qcow2.gz',
      ['disk1.qcow2.gz'],
      async (d) => {
        await qemuImg(d, '-f', 'qcow2', '-u', '-b', c.secret, '-F', 'raw', 'disk1.qcow2', '1M');
        await writeFile(path.join(d, 'disk1.qcow2.gz'), gzipSync(await readFile(path.join(d, 'disk1.qcow2'))));
      },
      true,
    );
    await refused(c, tar, /^v2v: error: input: disk .*gz\.ova: the decompressed disk names the backing file .*secret\.raw: refused \(a compressed disk of an OVA may name no other file\)/);
  });

  test('OVA: a backing file inside the OVA is allowed: the output is the chain\'s bytes', async ({ tmp }) => {
    const c = await setUp(tmp);
    // A raw base under a qcow2 that overwrites part of it: both must show through.
    const { tar, dir } = await ova(c, 'inside', 'top.qcow2', ['top.qcow2', 'base.raw'], async (d) => {
      await writeFile(path.join(d, 'base.raw'), Buffer.alloc(MiB, 'base-inside-the-ova '));
      await qemuImg(d, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'top.qcow2');
      await run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x54 65536 4096', path.join(d, 'top.qcow2')]);
    });
    const expected = path.join(tmp, 'expected.raw');
    await run(['qemu-img', 'convert', '-q', '-O', 'raw', path.join(dir, 'top.qcow2'), expected]);
    for (const from of [tar, dir]) {
      const out = path.join(tmp, `out-${path.basename(from)}`);
      await mkdir(out);
      const r = await runCli(['-i', 'ova', from, '-o', 'local', '-os', out, '--no-convert', '-q'], { env: { TMPDIR: c.work } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', expected, path.join(out, 'hostile-sda')]);
    }
    expect(await readdir(c.work)).toEqual([]);
  });

  test('-i disk: a qcow2 over a raw backing file is allowed; --print-source (JSON) and v2v input show the chain', async ({ tmp }) => {
    const c = await setUp(tmp);
    const base = path.join(tmp, 'base.raw');
    const top = path.join(tmp, 'top.qcow2');
    await writeFile(base, Buffer.alloc(MiB, 'base '));
    await qemuImg(tmp, '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'top.qcow2');

    const text = await runCli(['-i', 'disk', top, '--print-source', '-q']);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    // virt-v2v 2.2's text: the disk's index, no bus for -i disk, no path.
    expect(text.stdout).toContain('\ndisks:\n\t0\nremovable media:\n');

    const json = await runCli(['-i', 'disk', top, '--print-source', '--machine-readable']);
    expect(json.code).toBe(0);
    expect(sourceOf(json).disks).toEqual([{ index: 0, socket: 'in0', source: top, format: 'qcow2', size: MiB, bus: 'unknown', backing: [base] }]);

    // A disk without a chain has no "backing" key.
    expect((sourceOf(await runCli(['-i', 'disk', base, '--print-source', '--machine-readable'])).disks as object[])[0]).not.toHaveProperty('backing');

    // The step command writes the same metadata.in.
    const inp = await runCli(['input', '-i', 'disk', top], { env: { TMPDIR: c.work } });
    expect(inp.stderr).toBe('');
    expect(inp.code).toBe(0);
    const wd = inp.stdout.trim();
    const meta = JSON.parse(await readFile(path.join(wd, 'metadata.in'), 'utf8')) as { disks: { backing?: string[] }[] };
    expect(meta.disks[0]!.backing).toEqual([base]);
    expect((await runCli(['cleanup', wd])).code).toBe(0);
  });

  test('-i disk: nbd:// and json: backing files are refused without --allow-remote-backing, served with it', async ({ tmp, nbdkit }) => {
    const c = await setUp(tmp);
    // The remote backing file: an NBD server with known bytes.
    const remote = await nbdkit(['pattern', `${MiB}`], { readonly: true });
    const json = `json:{"driver":"raw","file":{"driver":"nbd","server":{"type":"unix","path":"${remote.socket}"}}}`;
    const viaUri = path.join(tmp, 'uri.qcow2');
    const viaJson = path.join(tmp, 'json.qcow2');
    await qemuImg(tmp, '-f', 'qcow2', '-u', '-b', remote.uri, '-F', 'raw', 'uri.qcow2', '1M');
    await qemuImg(tmp, '-f', 'qcow2', '-u', '-b', json, '-F', 'raw', 'json.qcow2', '1M');

    const env = { env: { TMPDIR: c.work } };
    oneError(
      await runCli(['-i', 'disk', viaUri, '-o', 'local', '-os', c.out, '--no-convert', '-q'], env),
      new RegExp(`^v2v: error: input: disk ${viaUri}: backing file nbd\\+unix:///\\?socket=\\S+ is a network location \\(nbd\\+unix\\): refused without --allow-remote-backing`),
    );
    oneError(
      await runCli(['-i', 'disk', viaJson, '--print-source', '-q'], env),
      /^v2v: error: input: disk \S+json\.qcow2: backing file json:\{.*\} is a json: spec \(driver raw, nbd\): refused without --allow-remote-backing/,
    );
    expect(await readdir(c.out)).toEqual([]);
    expect((await readdir(c.work)).filter((d) => !d.startsWith('v2v-log-'))).toEqual([]);

    for (const [disk, name] of [[viaUri, remote.uri], [viaJson, json]] as const) {
      const r = await runCli(['-i', 'disk', disk, '--allow-remote-backing', '--print-source', '--machine-readable'], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((sourceOf(r).disks as { backing?: string[] }[])[0]!.backing).toEqual([name]);
    }
    // Served with it: the remote bytes come through the overlay.
    const out = path.join(tmp, 'out2');
    await mkdir(out);
    const r = await runCli(['-i', 'disk', viaUri, '--allow-remote-backing', '-o', 'local', '-os', out, '--no-convert', '-q'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(out, 'uri-sda'), remote.uri]);

    // v2v input takes it too; the other steps and inputs do not.
    const inp = await runCli(['input', '-i', 'disk', viaUri, '--allow-remote-backing'], env);
    expect(inp.code).toBe(0);
    const wd = inp.stdout.trim();
    oneError(await runCli(['convert', wd, '--allow-remote-backing']), /^v2v: error: convert: option --allow-remote-backing does not apply to this step$/);
    expect((await runCli(['cleanup', wd])).code).toBe(0);
    oneError(await runCli(['-i', 'ova', path.join(tmp, 'x.ova'), '--allow-remote-backing', '--print-source']), /^v2v: error: --allow-remote-backing: only for -i disk, not -i ova$/);
  });
});
