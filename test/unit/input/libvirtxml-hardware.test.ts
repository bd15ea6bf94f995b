// The hardware fields of a libvirt domain XML (libvirtxml/hardware.ts), as
// virt-v2v's parse_libvirt_xml.ml reads them.
import { describe, expect, it } from 'vitest';
import { removableSlot } from '../../../src/steps/input/libvirtxml/hardware.js';
import { parseLibvirtXml } from '../../../src/steps/input/libvirtxml/parse.js';

const DISK = `<disk type='file' device='disk'><source file='/d.img'/><target dev='sda' bus='scsi'/></disk>`;
const parse = (extra: string, devices = '') =>
  parseLibvirtXml(`<domain type='xen'><name>g</name>${extra}<devices>${DISK}${devices}</devices></domain>`, '/x/g.xml');

describe('libvirtxml: hardware', () => {
  it('reads type, genid, CPU vendor, model, topology and features', () => {
    const g = parse(
      '<genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90e</genid>' +
        "<cpu><vendor>AMD</vendor><model>EPYC</model><topology sockets='1' cores='2' threads='2'/></cpu>" +
        '<features><acpi/><apic/><hyperv><relaxed/></hyperv></features>',
    );
    expect(g).toMatchObject({
      hypervisor: 'xen',
      genid: '43dc0cf8-809b-4adb-9bea-a9abb5f3d90e',
      cpuVendor: 'AMD',
      cpuModel: 'EPYC',
      cpuTopology: { sockets: 1, cores: 2, threads: 2 },
      features: ['acpi', 'apic', 'hyperv'],
      vcpus: 4,
    });
    expect(g.display).toBeUndefined();
    expect(g.sound).toBeUndefined();
    expect(g.virtioScsi).toBeUndefined();
  });

  it('leaves out a partial topology and an empty genid', () => {
    const g = parse("<genid></genid><cpu><topology sockets='2'/></cpu>");
    expect(g.cpuTopology).toBeUndefined();
    expect(g.genid).toBeUndefined();
  });

  it.each([
    ["<graphics type='vnc' port='5901' autoport='no' keymap='de' passwd='x'/>", { type: 'vnc', keymap: 'de', password: true, port: 5901 }],
    ["<graphics type='spice' listen='0.0.0.0'/>", { type: 'spice', password: false, listen: { type: 'address', value: '0.0.0.0' } }],
    ["<graphics type='vnc'><listen type='socket'/></graphics>", { type: 'vnc', password: false, listen: { type: 'socket' } }],
    ["<graphics type='vnc'><listen type='none'/></graphics>", { type: 'vnc', password: false, listen: { type: 'none' } }],
    ["<graphics type='spice'><listen type='network' network='lan'/></graphics>", { type: 'spice', password: false, listen: { type: 'network', value: 'lan' } }],
  ])('display %s', (graphics, display) => {
    expect(parse('', graphics).display).toStrictEqual(display);
  });

  it('ignores local displays; reads the first known sound model; sees virtio-scsi', () => {
    const g = parse('', "<graphics type='sdl'/><sound model='ich9'/><sound model='ac97'/><controller type='scsi' model='virtio-scsi'/>");
    expect(g.display).toBeUndefined();
    expect(g.sound).toBe('ich9');
    expect(g.virtioScsi).toBe(true);
    expect(parse('', "<sound model='hda-weird'/>").sound).toBeUndefined();
  });

  it.each([
    ['hda', 0],
    ['hdc', 2],
    ['sdz', 25],
    ['sdaa', 26],
    ['fdb', 1],
    ['xvdd', 3],
    ['sr1', 1],
    ['sd1', undefined],
    ['nvme0n1', undefined],
    [undefined, undefined],
  ])('removable slot of %s is %s', (dev, slot) => {
    expect(removableSlot(dev)).toBe(slot);
  });
});
