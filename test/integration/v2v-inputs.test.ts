// `-i libvirtxml` and `-i vmx` through the whole job (issue 4, local disks):
// the metadata file parsed into metadata.in (checked field by field through
// --print-source --machine-readable), network mapping applied, every disk
// served through an overlay and copied (--no-convert), bytes compared, the
// sources untouched; hostile files refused with one line, nothing left.
import { createReadStream, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File, makeRaw, fakeOvmf } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, sourceOf, type CliResult } from '../helpers/cli.js';
import { pino } from 'pino';
import { freePort } from '../../src/process/ports.js';
import { startNbdkit } from '../../src/process/server.js';

const MiB = 1024 * 1024;


function oneError(r: CliResult, re: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy');

describe.skipIf(needs)('v2v -i libvirtxml / -i vmx', () => {
  test('-i libvirtxml: raw and qcow2 disks, NICs mapped with -n and -b, copied as they are', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const braw = path.join(tmp, 'b.raw');
    const b = path.join(tmp, 'b.qcow2');
    await makeRaw(a, 128, 1);
    await makeRaw(braw, 64, 2);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', braw, b]);
    const xml = path.join(tmp, 'guest.xml');
    await writeFile(
      xml,
      `<domain type='kvm'>
  <name>lx</name>
  <memory unit='KiB'>4194304</memory>
  <vcpu>2</vcpu>
  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='a.img'/><target dev='sda' bus='sata'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${b}'/><target dev='sdb' bus='scsi'/></disk>
    <disk type='file' device='cdrom'><source file='/nonexistent/install.iso'/><target dev='sdc' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:AA:BB:CC'/><source network='default'/><model type='e1000'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='virtio'/></interface>
  </devices>
</domain>
`,
    );
    const before = [await sha256File(a), await sha256File(b)];
    const map = ['-n', 'lan', '-b', 'br0:br9'];

    const p = await runCli(['-i', 'libvirtxml', xml, ...map, '--print-source', '--machine-readable']);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const src = sourceOf(p);
    expect(src).toMatchObject({ name: 'lx', input: 'libvirtxml', memory: 4 * 1024 * MiB, vcpus: 2, firmware: 'uefi' });
    expect(src.disks).toEqual([
      { index: 0, socket: 'in0', source: a, format: 'raw', size: 128 * MiB, bus: 'sata' },
      { index: 1, socket: 'in1', source: b, format: 'qcow2', size: 64 * MiB, bus: 'scsi' },
    ]);
    expect(src.nics).toEqual([
      { vnet: 'lan', vnetType: 'network', mac: '52:54:00:aa:bb:cc', model: 'e1000' },
      { vnet: 'br9', vnetType: 'bridge', mac: '52:54:00:00:00:02', model: 'virtio' },
    ]);

    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    // A UEFI guest: -o local wants OVMF on this host, as virt-v2v does.
    const { env: ovmf } = await fakeOvmf(tmp);
    const r = await runCli(['-i', 'libvirtxml', xml, ...map, '-o', 'local', '-os', out, '--no-convert', '-q'], { env: { TMPDIR: work, ...ovmf } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['lx-sda', 'lx-sdb', 'lx.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'lx-sda')]);
    await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'raw', b, path.join(out, 'lx-sdb')]);
    const outXml = await readFile(path.join(out, 'lx.xml'), 'utf8');
    expect(outXml).toContain("<source network='lan'/>");
    expect(outXml).toContain("<source bridge='br9'/>");
    expect(outXml).toMatch(/firmware=['"]efi['"]/);
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);
    expect(await readdir(work)).toEqual([]);
  });

  test('-i vmx: a monolithicFlat vmdk (read as its raw extent) and a sparse vmdk, copied as they are', async ({ tmp }) => {
    const base = path.join(tmp, 'base.img');
    await makeRaw(base, 96, 3);
    const dir = path.join(tmp, 'vm');
    await mkdir(dir);
    // qemu-img writes a NUL-padded descriptor next to guest-flat.vmdk.
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', base, path.join(dir, 'guest.vmdk')]);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', base, path.join(dir, 'data.vmdk')]);
    const vmx = path.join(dir, 'guest.vmx');
    await writeFile(
      vmx,
      [
        '.encoding = "UTF-8"',
        'displayName = "vmxguest"',
        'guestOS = "debian12-64"',
        'memsize = "3072"',
        'numvcpus = "4"',
        'firmware = "efi"',
        'scsi0.present = "TRUE"',
        'scsi0.virtualDev = "pvscsi"',
        'scsi0:0.present = "TRUE"',
        'scsi0:0.fileName = "guest.vmdk"',
        'sata0.present = "TRUE"',
        'sata0:1.present = "TRUE"',
        'sata0:1.fileName = "data.vmdk"',
        'ethernet0.present = "TRUE"',
        'ethernet0.virtualDev = "vmxnet3"',
        'ethernet0.networkName = "VM Network"',
        'ethernet0.addressType = "generated"',
        'ethernet0.generatedAddress = "00:0C:29:12:34:56"',
        '',
      ].join('\n'),
    );
    const before = await Promise.all(['guest.vmdk', 'guest-flat.vmdk', 'data.vmdk'].map((f) => sha256File(path.join(dir, f))));

    const p = await runCli(['-i', 'vmx', vmx, '--print-source', '--machine-readable']);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const src = sourceOf(p);
    expect(src).toMatchObject({ name: 'vmxguest', input: 'vmx', memory: 3072 * MiB, vcpus: 4, firmware: 'uefi' });
    expect(src.disks).toEqual([
      { index: 0, socket: 'in0', source: path.join(dir, 'guest-flat.vmdk'), format: 'raw', size: 96 * MiB, bus: 'scsi' },
      { index: 1, socket: 'in1', source: path.join(dir, 'data.vmdk'), format: 'vmdk', size: 96 * MiB, bus: 'sata' },
    ]);
    expect(src.nics).toEqual([{ vnet: 'VM Network', vnetType: 'network', mac: '00:0c:29:12:34:56', model: 'vmxnet3' }]);

    const out = path.join(tmp, 'out');
    await mkdir(out);
    const r = await runCli(['-i', 'vmx', vmx, '-o', 'local', '-os', out, '-of', 'qcow2', '--no-convert', '-q'], { env: (await fakeOvmf(tmp)).env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const d of ['vmxguest-sda', 'vmxguest-sdb']) {
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', base, path.join(out, d)]);
    }
    expect(await Promise.all(['guest.vmdk', 'guest-flat.vmdk', 'data.vmdk'].map((f) => sha256File(path.join(dir, f))))).toEqual(before);
  });

  test('-i libvirtxml network disks: NBD over TCP (raw), NBD over a Unix socket (qcow2 inside), HTTP with ranges', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const braw = path.join(tmp, 'b.raw');
    const b = path.join(tmp, 'b.qcow2');
    const c = path.join(tmp, 'c.img');
    await makeRaw(a, 64, 21);
    await makeRaw(braw, 32, 22);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', braw, b]);
    await makeRaw(c, 48, 23);
    const log = pino({ level: 'silent' });
    const tcpPort = await freePort();
    const servers = [
      await startNbdkit(['file', `file=${a}`], { dir: tmp, name: 'tcp', readonly: true, tcp: { host: '127.0.0.1', port: tcpPort }, log }),
      await startNbdkit(['file', `file=${b}`], { dir: tmp, name: 'unix', readonly: true, log }),
    ];
    // An HTTP server with byte ranges (nbdkit's curl plugin needs them).
    const http = createServer((req, res) => {
      const size = statSync(c).size;
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      // As RFC 9110 says (nbdkit's curl plugin asks one byte past the end).
      const end = Math.min(m && m[2] ? Number(m[2]) : size - 1, size - 1);
      res.writeHead(m ? 206 : 200, {
        'Content-Length': String(end - start + 1),
        'Accept-Ranges': 'bytes',
        ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(c, { start, end }).pipe(res);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const httpPort = (http.address() as AddressInfo).port;
    try {
      const xml = path.join(tmp, 'net.xml');
      await writeFile(
        xml,
        `<domain type='kvm'><name>net</name><memory unit='MiB'>1024</memory><devices>
  <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd'><host name='127.0.0.1' port='${tcpPort}'/></source><target dev='vda' bus='virtio'/></disk>
  <disk type='network' device='disk'><driver name='qemu' type='qcow2'/><source protocol='nbd'><host transport='unix' socket='${servers[1]!.socket}'/></source><target dev='vdb' bus='virtio'/></disk>
  <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='http' name='/c.img'><host name='127.0.0.1' port='${httpPort}'/></source><target dev='vdc' bus='virtio'/></disk>
</devices></domain>
`,
      );
      const p = await runCli(['-i', 'libvirtxml', xml, '--print-source', '--machine-readable']);
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      const disks = sourceOf(p).disks as { source: string; format: string; size: number }[];
      expect(disks.map((d) => [d.format, d.size])).toEqual([
        ['raw', 64 * MiB],
        ['qcow2', 32 * MiB],
        ['raw', 48 * MiB],
      ]);
      expect(disks[0]!.source).toMatch(new RegExp(`^nbd://127\\.0\\.0\\.1:${tcpPort}`));
      expect(disks[1]!.source).toMatch(/^nbd\+unix:\/\//);
      expect(disks[2]!.source).toBe(`http://127.0.0.1:${httpPort}/c.img`);

      const out = path.join(tmp, 'out');
      const work = path.join(tmp, 'work');
      await mkdir(out);
      await mkdir(work);
      const r = await runCli(['-i', 'libvirtxml', xml, '-o', 'local', '-os', out, '--no-convert', '-q'], { env: { TMPDIR: work } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'net-sda')]);
      await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'raw', b, path.join(out, 'net-sdb')]);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', c, path.join(out, 'net-sdc')]);
      expect(await readdir(work)).toEqual([]);
    } finally {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
      await Promise.all(servers.map((x) => x.stop()));
    }
  });

  test('hostile files: one line naming the file and the problem, exit 1, nothing written, no work dir left', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    const env = { TMPDIR: work };
    const escape = path.join(tmp, 'escape.vmx');
    await writeFile(escape, 'displayName = "x"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "../../etc/shadow"\n');
    oneError(await runCli(['-i', 'vmx', escape, '-o', 'local', '-os', out], { env }), /^v2v: error: input: .*escape\.vmx: .*\.\.\/\.\.\/etc\/shadow escapes the directory/);

    const laughs = path.join(tmp, 'laughs.xml');
    await writeFile(laughs, '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n<domain><name>&b;</name></domain>\n');
    oneError(await runCli(['-i', 'libvirtxml', laughs, '-o', 'local', '-os', out], { env }), /laughs\.xml: .*DOCTYPE/);

    const remote = path.join(tmp, 'remote.xml');
    await writeFile(
      remote,
      "<domain><name>r</name><devices><disk type='network' device='disk'><source protocol='nbd' name='e'><host name='example.invalid' port='10809'/></source><target dev='vda' bus='virtio'/></disk></devices></domain>\n",
    );
    oneError(await runCli(['-i', 'libvirtxml', remote, '-o', 'null'], { env }), /^v2v: error: input: disk nbd:\/\/example\.invalid:10809\/e: cannot read it: .*example\.invalid/);

    const missing = path.join(tmp, 'missing.xml');
    await writeFile(missing, "<domain><name>m</name><devices><disk type='file' device='disk'><source file='nope.img'/><target dev='sda' bus='sata'/></disk></devices></domain>\n");
    oneError(await runCli(['-i', 'libvirtxml', missing, '-o', 'local', '-os', out], { env }), /nope\.img.*No such file or directory/);

    expect(await readdir(out)).toEqual([]);
    expect((await readdir(work)).filter((d) => !d.startsWith('v2v-log-'))).toEqual([]);
  });
});
