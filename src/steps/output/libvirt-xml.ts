// The libvirt domain XML of -o local (NAME.xml), shaped as virt-v2v 2.2's
// create_libvirt_xml.ml writes it: a kvm domain with the converted buses,
// the output disks by absolute path, the source's NICs, a console, and the
// virtio extras (rng, balloon, guest agent channel) when the guest has
// virtio drivers. Every string from the source or the user is escaped.
import type { GuestOs, MetadataOut } from '../../metadata/schema.js';
import { driveName } from './disks.js';

export interface OutputDiskRef {
  index: number;
  /** Absolute path of the final disk file. */
  path: string;
  format: 'raw' | 'qcow2';
}

// XML 1.0 cannot carry these code points even as references.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlText(s: string): string {
  return s.replace(INVALID_XML_CHARS, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** For attribute values: quotes too, and whitespace a parser would normalise to spaces. */
export function xmlAttr(s: string): string {
  return xmlText(s)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

interface El {
  name: string;
  attrs?: [string, string][];
  children?: (El | string)[];
}

const el = (name: string, attrs: [string, string][] = [], ...children: (El | string)[]): El => ({ name, attrs, children });

function render(e: El, indent: string, out: string[]): void {
  const attrs = (e.attrs ?? []).map(([k, v]) => ` ${k}='${xmlAttr(v)}'`).join('');
  const kids = e.children ?? [];
  if (kids.length === 0) out.push(`${indent}<${e.name}${attrs}/>`);
  else if (kids.length === 1 && typeof kids[0] === 'string') out.push(`${indent}<${e.name}${attrs}>${xmlText(kids[0])}</${e.name}>`);
  else {
    out.push(`${indent}<${e.name}${attrs}>`);
    for (const k of kids) {
      if (typeof k === 'string') out.push(`${indent}  ${xmlText(k)}`);
      else render(k, `${indent}  `, out);
    }
    out.push(`${indent}</${e.name}>`);
  }
}

/**
 * libosinfo's id for the guest, by virt-v2v's table (get_osinfo_id), or
 * undefined when unknown: a wrong id is worse than none.
 */
export function osinfoId(os: GuestOs | null): string | undefined {
  if (!os) return undefined;
  const { type, distro, major, minor, product } = os;
  if (type === 'linux') {
    if (major <= 0) return undefined;
    switch (distro) {
      case 'rhel':
        return `http://redhat.com/rhel/${major}.${minor}`;
      case 'centos':
        if (major < 7) return `http://centos.org/centos/${major}.${minor}`;
        if (major === 7) return 'http://centos.org/centos/7.0';
        return `http://centos.org/centos/${major}`;
      case 'sles': {
        const kind = product.includes('Desktop') ? 'sled' : 'sles';
        return minor === 0 ? `http://suse.com/${kind}/${major}` : `http://suse.com/${kind}/${major}.${minor}`;
      }
      case 'opensuse':
        return `http://opensuse.org/opensuse/${major}.${minor}`;
      case 'debian':
        return `http://debian.org/debian/${major}`;
      case 'ubuntu':
        return `http://ubuntu.com/ubuntu/${major}.${String(minor).padStart(2, '0')}`;
      case 'fedora':
        return `http://fedoraproject.org/fedora/${major}`;
      default:
        return undefined;
    }
  }
  if (type === 'windows') {
    // virt-v2v tests inspection's product variant; we have the product name only.
    const server = product.includes('Server');
    const v = `${major}.${minor}`;
    if (major > 0 && major < 4) return `http://microsoft.com/win/${v}`;
    if (v === '5.1') return 'http://microsoft.com/win/xp';
    if (v === '5.2') {
      if (product.includes('XP')) return 'http://microsoft.com/win/xp';
      return product.includes('R2') ? 'http://microsoft.com/win/2k3r2' : 'http://microsoft.com/win/2k3';
    }
    if (v === '6.0') return server ? 'http://microsoft.com/win/2k8' : 'http://microsoft.com/win/vista';
    if (v === '6.1') return server ? 'http://microsoft.com/win/2k8r2' : 'http://microsoft.com/win/7';
    if (v === '6.2') return server ? 'http://microsoft.com/win/2k12' : 'http://microsoft.com/win/8';
    if (v === '6.3') return server ? 'http://microsoft.com/win/2k12r2' : 'http://microsoft.com/win/8.1';
    if (v === '10.0') {
      if (server) {
        if (product.includes('2022')) return 'http://microsoft.com/win/2k22';
        if (product.includes('2019')) return 'http://microsoft.com/win/2k19';
        return 'http://microsoft.com/win/2k16';
      }
      return product.includes('Windows 11') ? 'http://microsoft.com/win/11' : 'http://microsoft.com/win/10';
    }
  }
  return undefined;
}

/**
 * libvirt's arch for the guest, as virt-v2v's kvm_arch: a 32-bit x86 guest
 * runs on x86_64 too (virt-v2v writes x86_64 for i386 ... i686 and unknown).
 */
export function guestArch(os: GuestOs | null): string {
  const arch = os?.arch ?? 'unknown';
  return /^(i[3-6]86|x86_64|unknown|)$/.test(arch) ? 'x86_64' : arch;
}

/**
 * The bus and device-name prefix of the output disks. q35 has no IDE
 * controller, so virt-v2v puts IDE disks on its SATA (AHCI) controller.
 */
export function diskTarget(meta: MetadataOut): { bus: 'virtio' | 'sata' | 'ide'; prefix: 'vd' | 'sd' | 'hd' } {
  if (meta.diskBus === 'virtio') return { bus: 'virtio', prefix: 'vd' };
  if (meta.diskBus === 'sata' || meta.machine === 'q35') return { bus: 'sata', prefix: 'sd' };
  return { bus: 'ide', prefix: 'hd' };
}

export function libvirtXml(meta: MetadataOut, name: string, disks: OutputDiskRef[]): string {
  const virtio = meta.diskBus === 'virtio';
  const memKiB = String(Math.floor(meta.memory / 1024));
  const id = osinfoId(meta.os);
  const { bus, prefix } = diskTarget(meta);

  const devices: El[] = [
    ...disks.map((d, slot) =>
      el(
        'disk',
        [
          ['type', 'file'],
          ['device', 'disk'],
        ],
        el('driver', [
          ['name', 'qemu'],
          ['type', d.format],
        ]),
        el('source', [['file', d.path]]),
        el('target', [
          ['dev', `${prefix}${driveName(slot)}`],
          ['bus', bus],
        ]),
      ),
    ),
    ...meta.nics.map((n) =>
      el(
        'interface',
        [['type', n.vnetType]],
        ...(n.mac ? [el('mac', [['address', n.mac.toLowerCase()]])] : []),
        el('source', [[n.vnetType, n.vnet]]),
        el('model', [['type', meta.nicModel]]),
      ),
    ),
    el(
      'video',
      [],
      el('model', [
        ['type', 'vga'],
        ['vram', '16384'],
        ['heads', '1'],
      ]),
    ),
    el('graphics', [
      ['type', 'vnc'],
      ['autoport', 'yes'],
    ]),
    ...(virtio
      ? [
          el('rng', [['model', 'virtio']], el('backend', [['model', 'random']], '/dev/urandom')),
          el('memballoon', [['model', 'virtio']]),
        ]
      : [el('memballoon', [['model', 'none']])]),
    el('input', [
      ['type', 'tablet'],
      ['bus', 'usb'],
    ]),
    el('input', [
      ['type', 'mouse'],
      ['bus', 'ps2'],
    ]),
    el('serial', [['type', 'pty']], el('target', [['port', '0']])),
    el(
      'console',
      [['type', 'pty']],
      el('target', [
        ['type', 'serial'],
        ['port', '0'],
      ]),
    ),
    // The guest agent's channel, as virt-v2v adds for converted guests.
    ...(virtio
      ? [
          el('controller', [
            ['type', 'virtio-serial'],
            ['model', 'virtio'],
          ]),
          el(
            'channel',
            [['type', 'unix']],
            el('target', [
              ['type', 'virtio'],
              ['name', 'org.qemu.guest_agent.0'],
            ]),
          ),
        ]
      : []),
  ];

  const domain = el(
    'domain',
    [['type', 'kvm']],
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
    el(
      'os',
      // libvirt picks the OVMF build and its variables template itself.
      meta.firmware === 'uefi' ? [['firmware', 'efi']] : [],
      el(
        'type',
        [
          ['arch', guestArch(meta.os)],
          ['machine', meta.machine],
        ],
        'hvm',
      ),
      el('boot', [['dev', 'hd']]),
    ),
    el('features', [], el('acpi'), el('apic')),
    el('on_poweroff', [], 'destroy'),
    el('on_reboot', [], 'restart'),
    el('on_crash', [], 'restart'),
    el('devices', [], ...devices),
  );

  const out = ["<?xml version='1.0' encoding='utf-8'?>", '<!-- generated by v2v-engine -->'];
  render(domain, '', out);
  return `${out.join('\n')}\n`;
}
