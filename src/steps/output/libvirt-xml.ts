// The libvirt domain XML of -o local (NAME.xml), shaped as virt-v2v 2.2's
// create_libvirt_xml.ml writes it, element for element and in its order: a
// kvm domain with the converted buses, the output disks by absolute path and
// the source's CD-ROM and floppy drives (empty) where target_bus_assignment
// puts them, the source's NICs and sound card, a console, and the virtio
// extras (rng, balloon) when the guest has virtio drivers. Every string from
// the source or the user is escaped.
import type { MetadataOut } from '../../metadata/schema.js';
import { targetDevices } from './bus-assignment.js';
import { guestArch, osinfoId } from './osinfo.js';
import { comment, el, render, type Comment, type El } from './xml-dom.js';

export { xmlAttr, xmlText } from './xml-dom.js';
export { guestArch, osinfoId } from './osinfo.js';

export interface OutputDiskRef {
  index: number;
  /** Absolute path of the final disk file, or (a disk converted in place) the NBD URI it is served on. */
  path: string;
  format: string;
  /** -o libvirt: the disk is this volume of this pool (<disk type='volume'>). */
  volume?: { pool: string; name: string };
}

export interface LibvirtXmlOptions {
  /** The domain type: 'kvm' (virt-v2v's only one), or 'qemu' on a target without KVM (-o libvirt). */
  domainType?: 'kvm' | 'qemu';
}

/** libvirt's <source> of a disk: a file, or an NBD export (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=S). */
function diskSource(p: string): { type: string; source: El } {
  if (!/^nbd(\+unix)?:\/\//.test(p)) return { type: 'file', source: el('source', [['file', p]]) };
  const u = new URL(p);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const host = u.protocol === 'nbd+unix:'
    ? el('host', [['transport', 'unix'], ['socket', u.searchParams.get('socket') ?? '']])
    : el('host', [['name', u.hostname], ['port', u.port || '10809']]);
  return { type: 'network', source: el('source', [['protocol', 'nbd'], ...(name ? [['name', name] as [string, string]] : [])], host) };
}

/** All the disks, bus by bus as virt-v2v writes them (targetDevices); an empty slot is a comment. */
export function diskDevices(meta: MetadataOut, disks: OutputDiskRef[]): (El | Comment)[] {
  return targetDevices(meta).map(({ slot: s, bus, index: i, dev }) => {
    const target: [string, string][] = [['dev', dev]];
    if (bus !== 'floppy') target.push(['bus', bus]);
    const driver = (type: string) =>
      el('driver', [
        ['name', 'qemu'],
        ['type', type],
      ]);
    if (s.kind === 'empty') return comment(`${bus} slot ${i} is empty`);
    if (s.kind === 'disk') {
      const d = disks.find((x) => x.index === s.index);
      if (!d) throw new Error(`output: no output disk ${s.index}`);
      const { type, source } = d.volume
        ? { type: 'volume', source: el('source', [['pool', d.volume.pool], ['volume', d.volume.name]]) }
        : diskSource(d.path);
      const attrs: [string, string][] = [
        ['type', type],
        ['device', 'disk'],
      ];
      return el('disk', attrs, driver(d.format), source, el('target', target));
    }
    const attrs: [string, string][] = [
      ['device', s.kind],
      ['type', 'file'],
    ];
    return el('disk', attrs, driver('raw'), el('target', target));
  });
}

export function libvirtXml(meta: MetadataOut, name: string, disks: OutputDiskRef[], o: LibvirtXmlOptions = {}): string {
  const virtio = meta.diskBus === 'virtio';
  const memKiB = String(Math.floor(meta.memory / 1024));
  const id = osinfoId(meta.os);
  const pair = (a: string, av: string, b: string, bv: string): [string, string][] => [
    [a, av],
    [b, bv],
  ];

  const devices: (El | Comment)[] = [
    ...diskDevices(meta, disks),
    ...meta.nics.map((n) =>
      el(
        'interface',
        [['type', n.vnetType]],
        el('source', [[n.vnetType, n.vnet]]),
        el('model', [['type', meta.nicModel]]),
        ...(n.mac ? [el('mac', [['address', n.mac.toLowerCase()]])] : []),
      ),
    ),
    el('video', [], el('model', [...pair('type', 'vga', 'vram', '16384'), ['heads', '1']])),
    el('graphics', pair('type', 'vnc', 'autoport', 'yes')),
    // virt-v2v keeps a sound card qemu supports (qemu_supports_sound_card: all it reads).
    ...(meta.sound ? [el('sound', [['model', meta.sound]])] : []),
    ...(virtio ? [el('rng', [['model', 'virtio']], el('backend', [['model', 'random']], '/dev/urandom'))] : []),
    // libvirt adds a balloon unless told model='none'.
    el('memballoon', [['model', virtio ? 'virtio' : 'none']]),
    el('input', pair('type', 'tablet', 'bus', 'usb')),
    el('input', pair('type', 'mouse', 'bus', 'ps2')),
    el('console', [['type', 'pty']]),
    // The guest agent's channel: virt-v2v adds it to every guest.
    el('controller', pair('type', 'virtio-serial', 'model', 'virtio')),
    el('channel', [['type', 'unix']], el('target', pair('type', 'virtio', 'name', 'org.qemu.guest_agent.0'))),
  ];

  const domain = el(
    'domain',
    [['type', o.domainType ?? 'kvm']],
    comment('generated by v2v-engine'),
    el('name', [], name),
    ...(id
      ? [
          el(
            'metadata',
            [],
            el(
              'libosinfo:libosinfo',
              [['xmlns:libosinfo', 'http://libosinfo.org/xmlns/libvirt/domain/1.0']],
              el('libosinfo:os', [['id', id]]),
            ),
          ),
        ]
      : []),
    el('memory', [['unit', 'KiB']], memKiB),
    el('currentMemory', [['unit', 'KiB']], memKiB),
    el('vcpu', [], String(meta.vcpus)),
    el('features', [], el('acpi'), el('apic')),
    el(
      'os',
      // libvirt picks the OVMF build and its variables template itself
      // (virt-v2v writes <loader> and <nvram> paths).
      meta.firmware === 'uefi' ? [['firmware', 'efi']] : [],
      el('type', pair('arch', guestArch(meta.os), 'machine', meta.machine), 'hvm'),
    ),
    el('on_poweroff', [], 'destroy'),
    el('on_reboot', [], 'restart'),
    el('on_crash', [], 'restart'),
    el('devices', [], ...devices),
  );

  const out = ["<?xml version='1.0' encoding='utf-8'?>"];
  render(domain, '', out);
  return `${out.join('\n')}\n`;
}
