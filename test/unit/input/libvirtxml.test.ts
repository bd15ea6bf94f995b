// -i libvirtxml: the domain XML parser (src/steps/input/libvirtxml/) and
// the -n/-b/--mac network map. Every hostile input must end in an
// InputError whose one-line message starts with the file's path.
import { mkdtemp, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceGuest, SourceNic } from '../../../src/steps/input/source.js';
import {
  MAX_XML_BYTES,
  applyNetworkMap,
  parseLibvirtXml,
  parseNetworkMap,
  readLibvirtXml,
} from '../../../src/steps/input/libvirtxml/parse.js';

const FILE = 'guest.xml';

// Modelled on `virsh dumpxml` of a q35 UEFI guest (libvirt 9.x), with the
// disks this input supports: two local files, NBD over TCP and over a Unix
// socket, an https disk, an ISO in a cdrom and an empty floppy drive.
const GUEST_XML = `<domain type='kvm' id='3'>
  <name>fedora-q35</name>
  <uuid>5b2a7e0c-3f5d-4c6a-9a43-7d2f1e0b9c11</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://fedoraproject.org/fedora/39"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>4194304</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-8.1'>hvm</type>
    <firmware>
      <feature enabled='no' name='enrolled-keys'/>
      <feature enabled='no' name='secure-boot'/>
    </firmware>
    <loader readonly='yes' type='pflash'>/usr/share/edk2/ovmf/OVMF_CODE.fd</loader>
    <nvram template='/usr/share/edk2/ovmf/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/fedora-q35_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state='off'/>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' discard='unmap'/>
      <source file='/var/lib/libvirt/images/fedora-q35.img' index='6'/>
      <backingStore/>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/fedora-q35-data.qcow2' index='5'/>
      <backingStore/>
      <target dev='sda' bus='sata'/>
      <alias name='sata0-0-0'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='export1' index='4'>
        <host name='nbd.example.com' port='10809'/>
      </source>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='nbd' name='disk3' index='3'>
        <host transport='unix' socket='/run/nbd/disk3.sock'/>
      </source>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source protocol='https' name='/images/disk 4.qcow2' query='token=abc&amp;v=1' index='2'>
        <host name='images.example.com' port='8443'/>
        <ssl verify='yes'/>
      </source>
      <target dev='sdb' bus='scsi'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/Fedora-39.iso' index='1'/>
      <target dev='sdc' bus='sata'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='2'/>
    </disk>
    <disk type='file' device='floppy'>
      <driver name='qemu' type='raw'/>
      <target dev='fda' bus='fdc'/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci' ports='15'/>
    <controller type='sata' index='0'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <interface type='network'>
      <mac address='52:54:00:3b:7a:01'/>
      <source network='default' portid='a1b2c3d4-0000-4000-8000-000000000001' bridge='virbr0'/>
      <target dev='vnet2'/>
      <model type='virtio'/>
      <alias name='net0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:3b:7a:02'/>
      <source bridge='br0'/>
      <target dev='vnet3'/>
      <model type='e1000'/>
      <alias name='net1'/>
    </interface>
    <serial type='pty'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <input type='tablet' bus='usb'/>
    <graphics type='spice' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
      <image compression='off'/>
    </graphics>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
    </video>
    <memballoon model='virtio'/>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
  <seclabel type='dynamic' model='selinux' relabel='yes'/>
</domain>
`;

const GUEST: SourceGuest = {
  hypervisor: 'kvm',
  features: ['acpi', 'apic', 'vmport'],
  display: { type: 'spice', password: false, listen: { type: 'address', value: '127.0.0.1' } },
  virtioScsi: true,
  name: 'fedora-q35',
  memory: 4 * 1024 ** 3,
  vcpus: 2,
  firmware: 'uefi',
  disks: [
    { location: '/var/lib/libvirt/images/fedora-q35.img', format: 'raw', bus: 'virtio' },
    { location: '/var/lib/libvirt/images/fedora-q35-data.qcow2', format: 'qcow2', bus: 'sata' },
    { location: 'nbd://nbd.example.com:10809/export1', format: 'raw', bus: 'virtio' },
    { location: 'nbd+unix:///disk3?socket=/run/nbd/disk3.sock', bus: 'virtio' },
    { location: 'https://images.example.com:8443/images/disk%204.qcow2?token=abc&v=1', format: 'qcow2', bus: 'scsi' },
  ],
  removables: [
    { kind: 'cdrom', location: '/var/lib/libvirt/images/Fedora-39.iso', bus: 'sata', slot: 2 },
    { kind: 'floppy', bus: 'unknown', slot: 0 },
  ],
  nics: [
    { mac: '52:54:00:3b:7a:01', model: 'virtio', vnet: 'default', vnetType: 'network' },
    { mac: '52:54:00:3b:7a:02', model: 'e1000', vnet: 'br0', vnetType: 'bridge' },
  ],
  osHint: 'http://fedoraproject.org/fedora/39',
};

/** A minimal domain around `devices` (and `extra` before them). */
function domain(devices: string, extra = ''): string {
  return `<domain type='kvm'><name>g</name>${extra}<devices>${devices}</devices></domain>`;
}
const FILE_DISK = `<disk type='file' device='disk'><source file='/d.img'/><target dev='vda' bus='virtio'/></disk>`;

function thrown(fn: () => unknown): { code?: unknown; step?: unknown; name?: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { message: string };
  }
  throw new Error('expected an error');
}

/** fn throws the input step's InputError with exactly this message. */
function expectInputError(fn: () => unknown, message: string): void {
  const err = thrown(fn);
  expect(err.message).toBe(message);
  expect({ code: err.code, step: err.step, name: err.name }).toEqual({ code: 'INPUT_ERROR', step: 'input', name: 'InputError' });
}

async function expectReadError(file: string, message: string): Promise<void> {
  const err = await readLibvirtXml(file).then(
    () => {
      throw new Error('expected an error');
    },
    (e: unknown) => e as { code?: unknown; step?: unknown; message: string },
  );
  expect(err.message).toBe(message);
  expect({ code: err.code, step: err.step }).toEqual({ code: 'INPUT_ERROR', step: 'input' });
}

describe('libvirtxml: a real domain XML', () => {
  it('reads every field of a q35 UEFI guest', () => {
    expect(parseLibvirtXml(GUEST_XML, FILE)).toStrictEqual(GUEST);
  });

  it('resolves relative paths against the XML file directory', () => {
    const g = parseLibvirtXml(
      domain(
        `<disk type='file' device='disk'><source file='disks/a.img'/><target dev='vda' bus='virtio'/></disk>` +
          `<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='sdb' bus='usb'/></disk>` +
          `<disk type='network' device='disk'><source protocol='nbd' name='e'><host transport='unix' socket='s.sock'/></source></disk>` +
          `<disk type='file' device='cdrom'><source file='../iso/x.iso'/><target dev='hdc' bus='ide'/></disk>`,
      ),
      '/srv/guests/g1/guest.xml',
    );
    expect(g.disks).toStrictEqual([
      { location: '/srv/guests/g1/disks/a.img', bus: 'virtio' },
      { location: '/dev/sdb', bus: 'unknown' },
      { location: 'nbd+unix:///e?socket=/srv/guests/g1/s.sock', bus: 'unknown' },
    ]);
    expect(g.removables).toStrictEqual([{ kind: 'cdrom', location: '/srv/guests/iso/x.iso', bus: 'ide', slot: 2 }]);
  });

  it("takes virt-v2v's defaults: 1 GiB, 1 vCPU, unknown firmware, no NICs", () => {
    expect(parseLibvirtXml(domain(FILE_DISK), FILE)).toStrictEqual({
      hypervisor: 'kvm',
      name: 'g',
      memory: 1024 ** 3,
      vcpus: 1,
      firmware: 'unknown',
      disks: [{ location: '/d.img', bus: 'virtio' }],
      removables: [],
      nics: [],
    });
  });

  it.each([
    ['KiB', '4194304', 4 * 1024 ** 3],
    ['k', '2', 2048],
    ['KB', '2', 2000],
    ['b', '4096', 4096],
    ['bytes', '4096', 4096],
    ['M', '512', 512 * 1024 ** 2],
    ['MiB', '512', 512 * 1024 ** 2],
    ['MB', '512', 512 * 1000 ** 2],
    ['G', '4', 4 * 1024 ** 3],
    ['GiB', '4', 4 * 1024 ** 3],
    ['GB', '4', 4 * 1000 ** 3],
    ['T', '1', 1024 ** 4],
    ['TiB', '1', 1024 ** 4],
    ['TB', '1', 1000 ** 4],
    ['gib', '1', 1024 ** 3],
  ])('memory unit %s', (unit, value, bytes) => {
    expect(parseLibvirtXml(domain(FILE_DISK, `<memory unit='${unit}'>${value}</memory>`), FILE).memory).toBe(bytes);
  });

  it('memory without unit is KiB', () => {
    expect(parseLibvirtXml(domain(FILE_DISK, '<memory>1024</memory>'), FILE).memory).toBe(1024 * 1024);
  });

  it('vCPUs from <vcpu>, else from the CPU topology', () => {
    expect(parseLibvirtXml(domain(FILE_DISK, "<vcpu placement='static' current='2'>8</vcpu>"), FILE).vcpus).toBe(8);
    const topo = "<cpu mode='host-model'><topology sockets='2' dies='1' cores='3' threads='2'/></cpu>";
    expect(parseLibvirtXml(domain(FILE_DISK, topo), FILE).vcpus).toBe(12);
  });

  it.each([
    ["<os firmware='efi'><type>hvm</type></os>", 'uefi'],
    ["<os firmware='bios'><type>hvm</type></os>", 'bios'],
    ["<os firmware='coreboot'><type>hvm</type></os>", 'unknown'],
    ["<os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/x/CODE.fd</loader></os>", 'uefi'],
    ["<os><type>hvm</type><loader readonly='yes' type='rom'>/usr/share/OVMF/OVMF.fd</loader></os>", 'uefi'],
    ['<os><type>hvm</type><loader>/usr/share/edk2/x64/CODE.fd</loader></os>', 'uefi'],
    ["<os><type>hvm</type><loader type='rom'>/usr/share/seabios/bios.bin</loader></os>", 'unknown'],
    ['<os><type>hvm</type><boot dev="hd"/></os>', 'unknown'],
  ])('firmware of %s', (os, fw) => {
    expect(parseLibvirtXml(domain(FILE_DISK, os), FILE).firmware).toBe(fw);
  });

  it('builds network disk URIs: IPv6, default ports, no port, export names', () => {
    const net = (source: string) => `<disk type='network' device='disk'>${source}<target dev='vdb' bus='virtio'/></disk>`;
    const g = parseLibvirtXml(
      domain(
        net(`<source protocol='nbd' name='a b/c'><host name='::1' port='10809'/></source>`) +
          net(`<source protocol='nbd'><host name='192.0.2.7'/></source>`) +
          net(`<source protocol='https' name='/x.img'><host name='h.example' port='443'/></source>`) +
          net(`<source protocol='http' name='x.img'><host name='h.example' port='8080'/></source>`) +
          `<disk type='file' device='disk'><driver name='tap' type='aio'/><source file='/xen.img'/><target dev='xvda' bus='xen'/></disk>`,
      ),
      FILE,
    );
    expect(g.disks.map((d) => d.location)).toEqual([
      'nbd://[::1]:10809/a%20b/c',
      'nbd://192.0.2.7/',
      'https://h.example/x.img',
      'http://h.example:8080/x.img',
      '/xen.img',
    ]);
    expect(g.disks[4]).toStrictEqual({ location: '/xen.img', format: 'raw', bus: 'unknown' });
  });

  it('decodes entities and character references in values', () => {
    const g = parseLibvirtXml(
      domain(`<disk type='file' device='disk'><source file='/a &amp; b/&#x43;&#68;&lt;&gt;&quot;&apos;.img'/></disk>`).replace('<name>g</name>', '<name>a&amp;b</name>'),
      FILE,
    );
    expect(g.name).toBe('a&b');
    expect(g.disks[0]!.location).toBe(`/a & b/CD<>"'.img`);
  });

  it('reads NICs: other types as a network named after the type, MACs lower-case', () => {
    const g = parseLibvirtXml(
      domain(
        FILE_DISK +
          "<interface type='direct'><mac address='52:54:00:AA:BB:CC'/><source dev='eth0' mode='bridge'/><model type='virtio'/></interface>" +
          "<interface type='user'><mac address='00:00:00:00:00:00'/></interface>" +
          "<interface type='bridge'><source bridge=''/><model type='vmxnet3'/></interface>" +
          "<interface type='network'><source network='lan'/></interface>",
      ),
      FILE,
    );
    expect(g.nics).toStrictEqual([
      { mac: '52:54:00:aa:bb:cc', model: 'virtio', vnet: 'direct', vnetType: 'network' },
      { vnet: 'user', vnetType: 'network' },
      { model: 'vmxnet3', vnet: 'eth2', vnetType: 'bridge' },
      { vnet: 'lan', vnetType: 'network' },
    ]);
  });
});

describe('libvirtxml: hostile and broken input', () => {
  it('refuses a DOCTYPE', () => {
    expectInputError(() => parseLibvirtXml(`<?xml version="1.0"?>\n<!DOCTYPE domain>\n${GUEST_XML}`, FILE), 'guest.xml: DOCTYPE and entities are not allowed');
  });

  it('refuses billion laughs', () => {
    const lol = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [',
      ' <!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`),
      ']>',
      '<domain type="kvm"><name>&lol9;</name></domain>',
    ].join('\n');
    expectInputError(() => parseLibvirtXml(lol, FILE), 'guest.xml: DOCTYPE and entities are not allowed');
  });

  it('refuses an external entity', () => {
    const xxe = `<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<domain><name>&xxe;</name></domain>`;
    expectInputError(() => parseLibvirtXml(xxe, FILE), 'guest.xml: DOCTYPE and entities are not allowed');
    // An ENTITY declaration without DOCTYPE is refused all the same.
    expectInputError(() => parseLibvirtXml(`<!ENTITY x "y">${GUEST_XML}`, FILE), 'guest.xml: DOCTYPE and entities are not allowed');
  });

  it('refuses an entity reference (no DTD can define it)', () => {
    expectInputError(() => parseLibvirtXml(GUEST_XML.replace('<name>fedora-q35</name>', '<name>&xxe;</name>'), FILE), 'guest.xml: <name>: unknown entity "&xxe;" (entities are not allowed)');
    expectInputError(
      () => parseLibvirtXml(domain(`<disk type='file' device='disk'><source file='/a&b.img'/></disk>`), FILE),
      "guest.xml: <disk> 1: <source file=...>: a bare '&' (write &amp;)",
    );
  });

  it('refuses malformed XML, with line and column', () => {
    expectInputError(
      () => parseLibvirtXml(GUEST_XML.replace('</name>', '</nam>'), FILE),
      "guest.xml: malformed XML at line 2, column 19: Expected closing tag 'name' (opened in line 2, col 3) instead of closing tag 'nam'.",
    );
    expectInputError(() => parseLibvirtXml('', FILE), 'guest.xml: malformed XML at line 1: Start tag expected.');
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK).replace("type='kvm'", "type='kvm' type='xen'"), FILE), "guest.xml: malformed XML at line 1, column 20: Attribute 'type' is repeated.");
  });

  it('refuses binary content', () => {
    expectInputError(() => parseLibvirtXml(`${GUEST_XML}\u0000\u0001\u0002`, FILE), 'guest.xml: binary content, not an XML text file (U+0000 at line 137)');
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK).replace('<name>g', '<name>\ud800g'), FILE), 'guest.xml: binary content, not an XML text file (U+D800 at line 1)');
  });

  it('refuses a root other than <domain>', () => {
    expectInputError(() => parseLibvirtXml("<network><name>default</name><bridge name='virbr0'/></network>", FILE), 'guest.xml: the root element is <network>, expected <domain>');
    expectInputError(() => parseLibvirtXml('<domain/><domain/>', FILE), 'guest.xml: more than one root element');
    expectInputError(() => parseLibvirtXml('<domain/><network/>', FILE), 'guest.xml: more than one root element');
  });

  it('refuses prototype-polluting tag names and deep nesting', () => {
    expectInputError(
      () => parseLibvirtXml(domain(FILE_DISK, '<__proto__><polluted>1</polluted></__proto__>'), FILE),
      'guest.xml: malformed XML: [SECURITY] Invalid name: "__proto__" is a reserved JavaScript keyword that could cause prototype pollution',
    );
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK, `${'<a>'.repeat(100)}${'</a>'.repeat(100)}`), FILE), 'guest.xml: malformed XML: Maximum nested tags exceeded');
  });

  it('refuses an unsupported network protocol', () => {
    const rbd = `<disk type='network' device='disk'><source protocol='rbd' name='pool/img'><host name='ceph' port='6789'/></source><target dev='vda' bus='virtio'/></disk>`;
    expectInputError(() => parseLibvirtXml(domain(rbd), FILE), 'guest.xml: <disk> 1 (vda): network protocol "rbd" is not supported (only nbd, http and https)');
    const tls = `<disk type='network' device='disk'><source protocol='nbd' name='e' tls='yes'><host name='h'/></source><target dev='vda' bus='virtio'/></disk>`;
    expectInputError(() => parseLibvirtXml(domain(tls), FILE), 'guest.xml: <disk> 1 (vda): NBD over TLS (tls=yes) is not supported');
  });

  it('refuses a volume disk (it needs a libvirt connection)', () => {
    const vol = `<disk type='volume' device='disk'><source pool='default' volume='g.qcow2'/><target dev='vda' bus='virtio'/></disk>`;
    expectInputError(
      () => parseLibvirtXml(domain(vol), FILE),
      `guest.xml: <disk> 1 (vda): type='volume' (pool "default", volume "g.qcow2") needs a libvirt connection to find the volume; not supported with -i libvirtxml: use <disk type='file'> or 'block' with the volume's path`,
    );
  });

  it('refuses a bad MAC', () => {
    expectInputError(
      () => parseLibvirtXml(GUEST_XML.replace('52:54:00:3b:7a:02', '52:54:00:3b:7a:zz'), FILE),
      'guest.xml: <interface> 2: bad <mac address=...>: expected aa:bb:cc:dd:ee:ff, got "52:54:00:3b:7a:zz"',
    );
  });

  it('refuses NUL and control characters in a path', () => {
    const disk = (file: string) => domain(`${FILE_DISK}<disk type='file' device='disk'><source file='${file}'/><target dev='vdb' bus='virtio'/></disk>`);
    expectInputError(() => parseLibvirtXml(disk('/a\u0000b.img'), FILE), 'guest.xml: binary content, not an XML text file (U+0000 at line 1)');
    expectInputError(() => parseLibvirtXml(disk('/a&#0;b.img'), FILE), 'guest.xml: <disk> 2 (vdb): <source file=...>: "&#0;" is not an XML character');
    expectInputError(() => parseLibvirtXml(disk('/a&#x0A;b.img'), FILE), 'guest.xml: <disk> 2 (vdb): <source file=...>: contains NUL or control characters: "/a\\nb.img"');
    expectInputError(() => parseLibvirtXml(disk('/a&#127;b.img'), FILE), 'guest.xml: <disk> 2 (vdb): <source file=...>: contains NUL or control characters: "/a\\u007fb.img"');
  });

  it('refuses a disk without a source, naming its index and target', () => {
    const noSource = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><target dev='vdb' bus='virtio'/></disk>`;
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK + noSource), FILE), 'guest.xml: <disk> 2 (vdb): no <source file=...>');
    expectInputError(() => parseLibvirtXml(domain("<disk type='block'><target dev='sda'/></disk>"), FILE), 'guest.xml: <disk> 1 (sda): no <source dev=...>');
    expectInputError(() => parseLibvirtXml(domain("<disk type='network'><source name='x'/></disk>"), FILE), 'guest.xml: <disk> 1: no <source protocol=...>');
  });

  it('refuses other broken metadata', () => {
    expectInputError(() => parseLibvirtXml('<domain><devices/></domain>', FILE), 'guest.xml: <name> is missing or empty');
    expectInputError(() => parseLibvirtXml('<domain><name>a</name><name>b</name></domain>', FILE), 'guest.xml: more than one <name> in <domain>');
    expectInputError(() => parseLibvirtXml(domain(''), FILE), "guest.xml: the guest has no disks (<disk device='disk'>)");
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK, "<memory unit='KiB'>4x</memory>"), FILE), 'guest.xml: <memory>: expected a whole number, got "4x"');
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK, "<memory unit='kg'>4</memory>"), FILE), 'guest.xml: <memory unit=...>: unknown unit "kg" (expected b, KB, KiB, MB, MiB, GB, GiB, TB, TiB, ...)');
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK, "<memory unit='EiB'>9999</memory>"), FILE), 'guest.xml: <memory>: 9999 EiB is too large');
    expectInputError(() => parseLibvirtXml(domain(FILE_DISK, '<vcpu>0</vcpu>'), FILE), 'guest.xml: <vcpu>: expected 1 to 65536, got 0');
    expectInputError(
      () => parseLibvirtXml(domain("<disk type='file' device='lun'><source file='/x'/><target dev='sda' bus='scsi'/></disk>"), FILE),
      'guest.xml: <disk> 1 (sda): device="lun" is not supported (only disk, cdrom and floppy)',
    );
    expectInputError(
      () => parseLibvirtXml(domain(`${FILE_DISK}<interface type='network'><model type='virtio'/></interface>`), FILE),
      'guest.xml: <interface> 1: no <source network=...>',
    );
    expectInputError(
      () => parseLibvirtXml(domain("<disk type='network'><source protocol='nbd'><host name='a b'/></source><target dev='vda'/></disk>"), FILE),
      'guest.xml: <disk> 1 (vda): <host name=...>: not a host name or IP address: "a b"',
    );
    expectInputError(
      () => parseLibvirtXml(domain("<disk type='network'><source protocol='nbd'><host name='h' port='70000'/></source><target dev='vda'/></disk>"), FILE),
      'guest.xml: <disk> 1 (vda): <host port=...>: expected 1 to 65535, got "70000"',
    );
  });

  it('keeps a hostile file name on one line', () => {
    expectInputError(() => parseLibvirtXml('<x/>', 'evil\nname.xml'), 'evil\\u000aname.xml: the root element is <x>, expected <domain>');
  });
});

describe('libvirtxml: reading the file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'v2v-libvirtxml-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file (with a BOM) and resolves paths against its directory', async () => {
    const file = path.join(dir, 'rel.xml');
    await writeFile(file, `\ufeff${domain("<disk type='file' device='disk'><source file='a.img'/></disk>")}`);
    const g = await readLibvirtXml(file);
    expect(g.disks).toStrictEqual([{ location: path.join(dir, 'a.img'), bus: 'unknown' }]);
  });

  it('refuses a huge (sparse) file before reading it', async () => {
    const file = path.join(dir, 'huge.xml');
    await writeFile(file, '');
    await truncate(file, 64 * 1024 ** 3);
    await expectReadError(file, `${file}: the file is ${64 * 1024 ** 3} bytes; a libvirt XML file may be at most 16777216 bytes`);
    await truncate(file, MAX_XML_BYTES + 1);
    await expectReadError(file, `${file}: the file is 16777217 bytes; a libvirt XML file may be at most 16777216 bytes`);
  });

  it('refuses binary files: NUL bytes, invalid UTF-8', async () => {
    const nul = path.join(dir, 'nul.xml');
    await writeFile(nul, Buffer.concat([Buffer.from('<domain>'), Buffer.from([0, 1, 2, 0xff])]));
    await expectReadError(nul, `${nul}: binary content, not an XML text file (NUL byte at offset 8)`);
    const latin1 = path.join(dir, 'latin1.xml');
    await writeFile(latin1, Buffer.from(domain(FILE_DISK).replace('<name>g', '<name>caf\xe9'), 'latin1'));
    await expectReadError(latin1, `${latin1}: binary content, not an XML text file (not valid UTF-8)`);
  });

  it('refuses a missing file, a directory, a FIFO', async () => {
    await expectReadError(path.join(dir, 'none.xml'), `${path.join(dir, 'none.xml')}: No such file or directory`);
    await mkdir(path.join(dir, 'd.xml'));
    await expectReadError(path.join(dir, 'd.xml'), `${path.join(dir, 'd.xml')}: Is a directory`);
    const fifo = path.join(dir, 'fifo.xml');
    execFileSync('mkfifo', [fifo]);
    await expectReadError(fifo, `${fifo}: not a regular file`);
  });
});

describe('libvirtxml: -n, -b and --mac', () => {
  const nics: SourceNic[] = [
    { mac: '52:54:00:00:00:01', model: 'virtio', vnet: 'default', vnetType: 'network' },
    { mac: '52:54:00:00:00:02', vnet: 'lan', vnetType: 'network' },
    { mac: '52:54:00:00:00:03', vnet: 'br0', vnetType: 'bridge' },
    { vnet: 'br1', vnetType: 'bridge' },
  ];
  const none = { bridges: [], networks: [], macs: [] };

  it('leaves NICs alone without options', () => {
    expect(applyNetworkMap(nics, parseNetworkMap(none))).toStrictEqual(nics);
  });

  it('-n IN:OUT maps one network; -n OUT every other network', () => {
    expect(applyNetworkMap(nics, parseNetworkMap({ ...none, networks: ['lan:prod'] })).map((n) => n.vnet)).toEqual(['default', 'prod', 'br0', 'br1']);
    expect(applyNetworkMap(nics, parseNetworkMap({ ...none, networks: ['lan:prod', 'other'] })).map((n) => n.vnet)).toEqual(['other', 'prod', 'br0', 'br1']);
  });

  it('-b IN:OUT and -b OUT map bridges only', () => {
    expect(applyNetworkMap(nics, parseNetworkMap({ ...none, bridges: ['br1:ovsbr', 'virbr9'] })).map((n) => n.vnet)).toEqual(['default', 'lan', 'virbr9', 'ovsbr']);
    // A bridge named like a network is not touched by -n.
    expect(applyNetworkMap([{ vnet: 'lan', vnetType: 'bridge' }], parseNetworkMap({ ...none, networks: ['lan:x', 'y'] }))).toStrictEqual([{ vnet: 'lan', vnetType: 'bridge' }]);
  });

  it('--mac comes first, may change the kind, and matches any case', () => {
    const map = parseNetworkMap({ networks: ['default:n1', 'n2'], bridges: ['br0:b1', 'b2'], macs: ['52:54:00:00:00:01:bridge:mybr', '52:54:00:00:00:03:network:x'] });
    expect(applyNetworkMap(nics, map)).toStrictEqual([
      { mac: '52:54:00:00:00:01', model: 'virtio', vnet: 'mybr', vnetType: 'bridge' },
      { mac: '52:54:00:00:00:02', vnet: 'n2', vnetType: 'network' },
      { mac: '52:54:00:00:00:03', vnet: 'x', vnetType: 'network' },
      { vnet: 'b2', vnetType: 'bridge' },
    ]);
    const upper = parseNetworkMap({ ...none, macs: ['52:54:00:00:00:0A:network:up'] });
    expect(applyNetworkMap([{ mac: '52:54:00:00:00:0a', vnet: 'default', vnetType: 'network' }], upper)[0]!.vnet).toBe('up');
  });

  it('does not change its argument', () => {
    const copy = structuredClone(nics);
    applyNetworkMap(nics, parseNetworkMap({ ...none, networks: ['all'], bridges: ['allbr'] }));
    expect(nics).toStrictEqual(copy);
  });

  it.each([
    [{ networks: [':out'] }, '-n ":out": expected -n IN:OUT or -n OUT, with non-empty names'],
    [{ networks: ['in:'] }, '-n "in:": expected -n IN:OUT or -n OUT, with non-empty names'],
    [{ networks: [''] }, '-n "": expected -n IN:OUT or -n OUT, with non-empty names'],
    [{ bridges: ['a:b', 'a:c'] }, 'duplicate -b/--bridge parameter.  Duplicate mappings specified for bridge "a" (-b "a:b", then -b "a:c")'],
    [{ networks: ['x', 'y'] }, 'duplicate -n/--network parameter.  Only one default mapping is allowed (-n "x", then -n "y")'],
    [{ networks: ['a\nb'] }, '-n "a\\nb": names must not contain control characters'],
    [{ macs: ['52:54:00:00:00:01:ip:192.0.2.2,192.0.2.1,24'] }, '--mac "52:54:00:00:00:01:ip:192.0.2.2,192.0.2.1,24": static IP addresses (--mac MAC:ip:...) are not supported'],
    [{ macs: ['52:54:00:00:00:zz:network:x'] }, '--mac "52:54:00:00:00:zz:network:x": expected --mac MAC:network:OUT or --mac MAC:bridge:OUT, MAC as aa:bb:cc:dd:ee:ff'],
    [{ macs: ['52:54:00:00:00:01:vlan:x'] }, '--mac "52:54:00:00:00:01:vlan:x": expected --mac MAC:network:OUT or --mac MAC:bridge:OUT, MAC as aa:bb:cc:dd:ee:ff'],
    [{ macs: ['52:54:00:00:00:01:bridge:'] }, '--mac "52:54:00:00:00:01:bridge:": the bridge name is empty'],
    [{ macs: ['52:54:00:00:00:01:bridge:a', '52:54:00:00:00:01:network:b'] }, 'duplicate --mac parameter.  Duplicate mappings specified for MAC address 52:54:00:00:00:01 (--mac "52:54:00:00:00:01:bridge:a", then --mac "52:54:00:00:00:01:network:b")'],
    [{ macs: ['52:54:00:00:00:0a:bridge:a', '52:54:00:00:00:0A:bridge:a'] }, 'duplicate --mac parameter.  Duplicate mappings specified for MAC address 52:54:00:00:00:0a (--mac "52:54:00:00:00:0a:bridge:a", then --mac "52:54:00:00:00:0A:bridge:a")'],
  ])('refuses %j', (opts, message) => {
    const err = thrown(() => parseNetworkMap({ ...none, ...opts }));
    expect(err.message).toBe(message);
    expect({ code: err.code, name: err.name }).toEqual({ code: 'CONFIG_ERROR', name: 'ConfigError' });
  });
});

describe('libvirtxml: fuzz', () => {
  /** Returns a SourceGuest, or throws the input step's one-line InputError. */
  function check(text: string): void {
    let g: SourceGuest;
    try {
      g = parseLibvirtXml(text, FILE);
    } catch (err) {
      const e = err as { code?: unknown; step?: unknown; message?: unknown };
      expect(e.code, String(err)).toBe('INPUT_ERROR');
      expect(e.step).toBe('input');
      expect(typeof e.message).toBe('string');
      expect(e.message as string).toMatch(/^guest\.xml: /);
      expect(e.message as string).not.toMatch(/[\n\r\u2028\u2029]/);
      return;
    }
    expect(g.disks.length).toBeGreaterThan(0);
    for (const s of [g.name, ...g.disks.map((d) => d.location), ...g.nics.map((n) => n.vnet)]) expect(s).not.toMatch(/[\x00-\x1F\x7F]/);
    expect(Number.isSafeInteger(g.memory) && g.memory > 0).toBe(true);
  }

  // Any UTF-16 code unit, lone surrogates included.
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const tokens = ['<', '>', '/>', '</', '&', ';', '&#0;', '&#10;', '&amp;', '"', "'", '=', '<!DOCTYPE x>', '<![CDATA[', ']]>', '<!--', '-->', '<?xml ', '?>', '\n', '\u0000', '<__proto__>', '<disk>', '</devices>', "device='cdrom'", "type='network'", "protocol='nbd'", "unit='EiB'"];

  it('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: anyUnit, maxLength: 200 }), fc.string({ unit: fc.constantFrom(...tokens, 'a', ' '), maxLength: 60 })), (s) => check(s)),
      { numRuns: 500 },
    );
  });

  it('mutations of the real domain XML', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...tokens), fc.string({ unit: anyUnit, maxLength: 8 })) }),
      fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        let s = GUEST_XML;
        for (const m of ms) {
          const at = m.at % (s.length + 1);
          if (m.kind === 'delete') s = s.slice(0, at) + s.slice(at + m.len);
          else if (m.kind === 'insert') s = s.slice(0, at) + m.text + s.slice(at);
          else s = s.slice(0, at) + s.slice(at, at + m.len) + s.slice(at);
        }
        check(s);
      }),
      { numRuns: 500 },
    );
  });
});
