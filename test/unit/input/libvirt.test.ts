// -i libvirt without virsh: the -ic URI and guest name checks (uri.ts), the
// connection kinds as virt-v2v 2.2 tells them apart (v2v/v2v.ml), the state
// rule (lib/libvirt_utils.ml), the options schema, and what -i libvirt adds
// to the one libvirt XML parser (the directory relative paths are read
// against, volumes found through the connection).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, InputError } from '../../../src/errors.js';
import { describeInput, parseJobOptions } from '../../../src/engine/options.js';
import { optionsFromArgs } from '../../../src/engine/from-args.js';
import { classify, connectionProblem, guestProblem, remoteWarning } from '../../../src/steps/input/libvirt/uri.js';
import { stateProblem } from '../../../src/steps/input/libvirt/read.js';
import { parseLibvirtXml } from '../../../src/steps/input/libvirtxml/parse.js';
import { thrownBy } from '../../helpers/tools.js';

const domain = (disks: string) => `<domain type='kvm'><name>g</name><devices>${disks}</devices></domain>`;

describe('libvirt: -ic URI and the guest name', () => {
  it.each(['qemu:///system', 'qemu:///session', 'test:///tmp/guests.xml', 'test:///default', 'qemu+ssh://root@kvm1/system', 'xen+ssh://root@xen1:2222', 'qemu+unix:///system?socket=/run/x.sock', 'hail'])(
    'accepts %s',
    (uri) => expect(connectionProblem(uri)).toBeUndefined(),
  );

  it.each([
    ['vpx://vc/dc/host/esx1?no_verify=1', "VMware vCenter/ESXi input (vpx://, esx://) needs nbdkit's VDDK plugin"],
    ['esx://root@esx1', 'VMware vCenter/ESXi input'],
    ['gsx://g', 'VMware vCenter/ESXi input'],
    ['', 'the URI is empty'],
    ['qemu:///sys\ntem', 'contains control characters'],
    ['-c', 'not a libvirt URI'],
    ['not a uri', 'not a libvirt URI'],
    ['xen+ssh:///', 'URL does not contain a host name field'],
    ['qemu+ssh://h:70000/system', 'port 70000 is not 1 to 65535'],
  ])('refuses %j', (uri, why) => expect(connectionProblem(uri)).toContain(why));

  it('refuses empty guest names and control characters, nothing else', () => {
    expect(guestProblem('')).toContain('empty');
    expect(guestProblem('a\x7fb')).toContain('control characters');
    for (const ok of ['-x', "a'b;$(c)", 'Windows 10 (x64)', 'c3b2a7e0-3f5d-4c6a-9a43-7d2f1e0b9c11']) expect(guestProblem(ok)).toBeUndefined();
    fc.assert(fc.property(fc.string(), (s) => (guestProblem(s) === undefined) === (s !== '' && !/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(s))));
  });

  it('tells local, xen+ssh and other remote connections apart (virt-v2v: a host means remote)', () => {
    expect(classify(undefined)).toEqual({ kind: 'local' });
    expect(classify('qemu:///system')).toEqual({ kind: 'local' });
    expect(classify('test:///default')).toEqual({ kind: 'local' });
    expect(classify('test:///tmp/a%20b/../g.xml')).toEqual({ kind: 'local', testFile: '/tmp/g.xml' });
    expect(classify('hail')).toEqual({ kind: 'local' });
    expect(classify('xen+ssh://root@xen1')).toEqual({ kind: 'xen+ssh', ssh: { host: 'xen1', user: 'root' } });
    expect(classify('xen+ssh://xen1:22/')).toEqual({ kind: 'xen+ssh', ssh: { host: 'xen1' } });
    expect(classify('xen+ssh://[fe80::1]:2222')).toEqual({ kind: 'xen+ssh', ssh: { host: 'fe80::1', port: 2222 } });
    expect(classify('qemu+ssh://kvm1/system')).toEqual({ kind: 'remote' });
    expect(classify('qemu://kvm1/system')).toEqual({ kind: 'remote' });
    expect(classify('test://localhost/x.xml')).toEqual({ kind: 'remote' });
    expect(remoteWarning('qemu+ssh://kvm1/system')).toBe(
      "no support for remote libvirt connections to '-ic qemu+ssh://kvm1/system'.  The conversion may fail when it tries to read the source disks.",
    );
  });
});

describe('libvirt: the guest must be shut down', () => {
  it.each(['shut off', 'crashed', 'pmsuspended', 'in shutdown', 'no state'])('%s is converted', (state) => {
    expect(stateProblem('g', state, false)).toBeUndefined();
  });
  it.each(['running', 'idle', 'paused'])('%s is refused with virt-v2v\'s words', (state) => {
    expect(stateProblem('g', state, false)).toBe('libvirt domain ‘g’ is running or paused.  It must be shut down in order to perform virt-v2v conversion');
  });
  it('the test driver runs every guest it loads: running is converted there, paused is not', () => {
    expect(stateProblem('g', 'running', true)).toBeUndefined();
    expect(stateProblem('g', 'paused', true)).toContain('is running or paused');
    expect(stateProblem('g', 'idle', true)).toContain('is running or paused');
  });
});

describe('libvirt: options', () => {
  it('the command line makes {type: "libvirt", connection, guest}, -i libvirt being the default', () => {
    expect(optionsFromArgs(['-ic', 'qemu:///system', 'g', '-o', 'null']).input).toEqual({ type: 'libvirt', connection: 'qemu:///system', guest: 'g' });
    expect(optionsFromArgs(['-i', 'libvirt', 'g', '-o', 'null']).input).toEqual({ type: 'libvirt', guest: 'g' });
    expect(describeInput({ type: 'libvirt', connection: 'test:///x.xml', guest: 'g' })).toBe('-ic test:///x.xml -i libvirt g');
    expect(describeInput({ type: 'libvirt', guest: 'g' })).toBe('-i libvirt g');
  });
  it('services get the same one-line refusals from the schema', () => {
    const e = thrownBy(() => parseJobOptions({ input: { type: 'libvirt', connection: 'esx://h', guest: 'g' } }));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/^-ic esx:\/\/h: VMware vCenter\/ESXi input/);
    expect(thrownBy(() => parseJobOptions({ input: { type: 'libvirt', guest: 'a\nb' } })).message).toContain('contains control characters');
    expect(thrownBy(() => parseJobOptions({ input: { type: 'libvirt', guest: 'a\ufffdb' } })).message).toContain('not valid UTF-8');
    expect(thrownBy(() => parseJobOptions({ input: { type: 'libvirt' } })).message).toContain('input.guest');
  });
});

describe('libvirt: the libvirtxml parser with -i libvirt\'s options', () => {
  const disk = (src: string) => `<disk type='file' device='disk'><source file='${src}'/><target dev='vda'/></disk>`;
  it('relative paths: against the given directory, refused with none', () => {
    expect(parseLibvirtXml(domain(disk('a.img')), 'L', { dir: '/srv/x' }).disks[0]!.location).toBe('/srv/x/a.img');
    const e = thrownBy(() => parseLibvirtXml(domain(disk('a.img')), 'L', { dir: '' }));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toBe('L: <disk> 1 (vda): <source file=...>: a relative path ("a.img") where only an absolute one means anything');
    expect(parseLibvirtXml(domain(disk('/abs/a.img')), 'L', { dir: '' }).disks[0]!.location).toBe('/abs/a.img');
  });
  it("<disk type='volume'>: the volume's path and format; an unknown volume refused", () => {
    const vol = "<disk type='volume' device='disk'><driver type='qcow2'/><source pool='p' volume='v'/><target dev='vda'/></disk>";
    const g = parseLibvirtXml(domain(vol), 'L', { volumes: (p, v) => (p === 'p' && v === 'v' ? { path: '/pool/v.img', format: 'raw' } : undefined) });
    expect(g.disks).toEqual([{ location: '/pool/v.img', format: 'raw', bus: 'unknown' }]);
    expect(thrownBy(() => parseLibvirtXml(domain(vol), 'L', { volumes: () => undefined })).message).toBe(`L: <disk> 1 (vda): type='volume': no volume "v" in pool "p"`);
    // -i libvirtxml has no connection to ask.
    expect(thrownBy(() => parseLibvirtXml(domain(vol), 'L')).message).toContain('not supported with -i libvirtxml');
  });
});
