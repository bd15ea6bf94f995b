// `-i libvirt [-ic URI] GUEST` (issue 10) with real virsh and libvirt's test
// driver, as virt-v2v's own tests use it (tests/test-v2v-o-null.sh:
// `-ic test://FILE.xml` naming a <node> of <domain type='test'>): the
// guest's XML read through libvirt and parsed as -i libvirtxml parses it
// (the printed source agrees field for field), its disks copied; a paused
// guest, a missing one, VMware URIs and bad names refused with one line.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { makeRaw, run, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { expectOneError, runCli, sourceOf } from '../helpers/cli.js';

const MiB = 1024 * 1024;
const NS = "xmlns:test='http://libvirt.org/schemas/domain/test/1.0'";

/** A domain of libvirt's test driver; `extra` goes inside <domain> (a <test:runstate>). */
function domain(name: string, disks: string, extra = ''): string {
  return `<domain type='test' ${NS}>
  <name>${name}</name>
  <memory unit='MiB'>2048</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type><boot dev='hd'/></os>
  <devices>
${disks}
    <disk type='file' device='cdrom'><source file='/nonexistent/install.iso'/><target dev='hdc' bus='ide'/></disk>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/><model type='virtio'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>
  </devices>
  ${extra}
</domain>`;
}

const fileDisk = (file: string, format: string, dev: string, bus = 'virtio') =>
  `    <disk type='file' device='disk'><driver name='qemu' type='${format}'/><source file='${file}'/><target dev='${dev}' bus='${bus}'/></disk>`;

/** The test driver's file: the domains and a storage pool "p1" with the volume "v1" (FILE). */
async function node(file: string, domains: string[], volume?: string): Promise<string> {
  const pool = volume
    ? `<pool type='dir'><name>p1</name><target><path>${path.dirname(volume)}</path></target>
  <volume type='file'><name>v1</name><capacity unit='M'>16</capacity><target><path>${volume}</path><format type='raw'/></target></volume></pool>`
    : '';
  await writeFile(file, `<node>\n${domains.join('\n')}\n${pool}\n</node>\n`);
  return `test://${file}`;
}

describe.skipIf(!has('virsh') || !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy'))('v2v -i libvirt (test driver)', () => {
  test('a guest of the test driver: the source agrees with -i libvirtxml, the disks are copied', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const braw = path.join(tmp, 'b.raw');
    const b = path.join(tmp, 'b.qcow2');
    await makeRaw(a, 32, 1);
    await makeRaw(braw, 16, 2);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', braw, b]);
    // A relative path, as written in the file: against the file's directory, as -i libvirtxml reads it.
    const dom = domain('lg', [fileDisk('a.img', 'raw', 'vda'), fileDisk(b, 'qcow2', 'sda', 'sata')].join('\n'));
    const xml = path.join(tmp, 'lg.xml');
    await writeFile(xml, dom);
    const uri = await node(path.join(tmp, 'node.xml'), [dom]);
    const map = ['-n', 'lan', '-b', 'br0:br9'];

    const fromXml = await runCli(['-i', 'libvirtxml', xml, ...map, '--print-source', '--machine-readable']);
    expect(fromXml.code, fromXml.stderr).toBe(0);
    const viaLibvirt = await runCli(['-i', 'libvirt', '-ic', uri, 'lg', ...map, '--print-source', '--machine-readable']);
    expect(viaLibvirt.stderr).toBe('');
    expect(viaLibvirt.code).toBe(0);
    const src = sourceOf(viaLibvirt);
    expect(src).toEqual({ ...sourceOf(fromXml), input: 'libvirt' });
    expect(src).toMatchObject({ name: 'lg', memory: 2048 * MiB, vcpus: 2 });
    expect((src.disks as { source: string }[]).map((d) => d.source)).toEqual([a, b]);

    // -i libvirt is virt-v2v's default input; the test driver's guests "run", as virt-v2v's tests have them.
    const before = [await sha256File(a), await sha256File(b)];
    const nul = await runCli(['-ic', uri, 'lg', '-o', 'null', '--no-convert', '-q']);
    expect(nul.stderr).toBe('');
    expect(nul.code).toBe(0);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const r = await runCli(['-i', 'libvirt', '-ic', uri, 'lg', '-o', 'local', '-os', out, '--no-convert', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['lg-sda', 'lg-sdb', 'lg.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'lg-sda')]);
    await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'raw', b, path.join(out, 'lg-sdb')]);
    expect([await sha256File(a), await sha256File(b)]).toEqual(before);
  });

  test("<disk type='volume'>: the volume found through the connection, its format the volume's", async ({ tmp }) => {
    const v = path.join(tmp, 'v1.img');
    await makeRaw(v, 16, 3);
    const disk = "    <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='p1' volume='v1'/><target dev='vda' bus='virtio'/></disk>";
    const missing = "    <disk type='volume' device='disk'><source pool='p1' volume='nosuch'/><target dev='vda' bus='virtio'/></disk>";
    const uri = await node(path.join(tmp, 'node.xml'), [domain('vg', disk), domain('vmissing', missing)], v);
    const p = await runCli(['-i', 'libvirt', '-ic', uri, 'vg', '--print-source', '--machine-readable']);
    expect(p.code, p.stderr).toBe(0);
    expect(sourceOf(p).disks).toEqual([{ index: 0, socket: 'in0', source: v, format: 'raw', size: 16 * MiB, bus: 'virtio' }]);
    expectOneError(await runCli(['-i', 'libvirt', '-ic', uri, 'vmissing', '-o', 'null']), "cannot find libvirt volume \"nosuch\" of pool \"p1\"");
  });

  test('a paused guest, a missing guest, a missing disk, a bad file: one line each', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 4);
    const disk = fileDisk(a, 'raw', 'vda');
    const uri = await node(path.join(tmp, 'node.xml'), [
      domain('paused', disk, '<test:runstate>3</test:runstate>'),
      domain('off', disk, '<test:runstate>5</test:runstate>'),
      domain('nodisk', fileDisk(path.join(tmp, 'gone.img'), 'raw', 'vda')),
    ]);
    expectOneError(
      await runCli(['-i', 'libvirt', '-ic', uri, 'paused', '-o', 'null']),
      "libvirt domain ‘paused’ is running or paused.  It must be shut down in order to perform virt-v2v conversion",
    );
    expectOneError(await runCli(['-i', 'libvirt', '-ic', uri, 'ghost', '-o', 'null']), `cannot find libvirt domain ‘ghost’ (-ic ${uri})`);
    // A failed job keeps its log dir (its error names it): in TMPDIR, here the test's.
    expectOneError(await runCli(['-i', 'libvirt', '-ic', uri, 'nodisk', '-o', 'null'], { env: { TMPDIR: tmp } }), path.join(tmp, 'gone.img'), 'No such file or directory');
    const off = await runCli(['-i', 'libvirt', '-ic', uri, 'off', '-o', 'null', '--no-convert', '-q']);
    expect(off.code, off.stderr).toBe(0);
    expectOneError(await runCli(['-i', 'libvirt', '-ic', `test://${tmp}/none.xml`, 'g', '-o', 'null']), 'failed to connect to the hypervisor', 'none.xml');
  });

  test('the guest name and the URI are arguments of virsh, never a shell string', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 5);
    // libvirt refuses '/' in a name: the shell would find the file in $PWNED.
    const odd = `-x'; touch "$PWNED"; echo "$(id)`;
    const env = { PWNED: path.join(tmp, 'pwned') };
    const esc = odd.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
    const uri = await node(path.join(tmp, 'node.xml'), [domain(esc, fileDisk(a, 'raw', 'vda'))]);
    const p = await runCli(['-i', 'libvirt', '-ic', uri, '--print-source', '--machine-readable', '--', odd], { env });
    expect(p.code, p.stderr).toBe(0);
    expect(sourceOf(p).name).toBe(odd);
    expectOneError(await runCli(['-i', 'libvirt', '-ic', uri, '-o', 'null', '--', 'a;list'], { env }), 'cannot find libvirt domain ‘a;list’');
    await expect(readdir(tmp)).resolves.not.toContain('pwned');
  });
});

describe('v2v -i libvirt: refused before anything runs', () => {
  test.each([
    [['-i', 'libvirt', '-ic', 'vpx://vc.example.com/Datacenter/host/esx1?no_verify=1', 'g', '-o', 'null'], "-ic vpx://vc.example.com/Datacenter/host/esx1?no_verify=1: VMware vCenter/ESXi input (vpx://, esx://) needs nbdkit's VDDK plugin"],
    [['-i', 'libvirt', '-ic', 'esx://root@esx1.example.com', '-it', 'vddk', '-o', 'null'], "-ic esx://root@esx1.example.com: VMware vCenter/ESXi input"],
    [['-i', 'libvirt', '-o', 'null'], '-i libvirt: expecting a libvirt guest name on the command line'],
    [['-i', 'libvirt', 'a', 'b', '-o', 'null'], '-i libvirt: expecting a libvirt guest name on the command line'],
    [['-i', 'libvirt', '-ic', 'test:///x\ny', 'g', '-o', 'null'], '-ic "test:///x\\ny": contains control characters'],
    [['-i', 'libvirt', '-o', 'null', '--', 'a\u0007b'], '-i libvirt: the guest name "a\\u0007b" contains control characters'],
    [['-i', 'libvirt', '-ic', '-r', 'g', '-o', 'null'], '-ic "-r": not a libvirt URI'],
    [['-i', 'libvirt', '-ic', 'xen+ssh:///', 'g', '-o', 'null'], '-ic xen+ssh:///: URL does not contain a host name field'],
    [['-i', 'disk', 'a.img', '-ic', 'qemu:///system', '-o', 'null'], '-ic: only for -i libvirt, not -i disk'],
    [['-i', 'libvirt', '-ip', 'pw', 'g', '-o', 'null'], '-ip: only with -it ssh'],
  ])('%j', async (args, message) => {
    expectOneError(await runCli(args), message);
  });
});
