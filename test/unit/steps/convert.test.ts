import { describe, expect, it } from 'vitest';
import { conversionXml } from '../../../src/steps/convert/libvirt-xml.js';
import { ConversionReport } from '../../../src/steps/convert/report.js';
import type { MetadataIn } from '../../../src/metadata/schema.js';
import { thrownBy } from '../../helpers/tools.js';

// As virt-v2v-in-place 2.2 -v prints them (lib/types.ml string_of_inspect and
// string_of_guestcaps), among the appliance's own lines.
const INSPECT = `i_root = /dev/sda1
i_type = linux
i_distro = debian
i_osinfo = debian12
i_arch = x86_64
i_major_version = 12
i_minor_version = 8
i_package_format = deb
i_package_management = apt
i_product_name = 12.8
i_product_variant = unknown
i_firmware = UEFI [/dev/sda2]
i_windows_systemroot = 
i_windows_software_hive = 
i_windows_system_hive = 
i_windows_current_control_set = `;
const GCAPS = `gcaps_block_bus = virtio-blk
gcaps_net_bus = virtio-net
gcaps_virtio_rng = true
gcaps_virtio_balloon = true
gcaps_isa_pvpanic = true
gcaps_virtio_socket = true
gcaps_machine = q35
gcaps_arch = x86_64
gcaps_acpi = true
gcaps_virtio_1_0 = true
gcaps_default_cpu = true`;

function reportOf(text: string): ConversionReport {
  const r = new ConversionReport();
  for (const line of text.split('\n')) r.line(line);
  return r;
}

describe("convert: virt-v2v-in-place -v's report", () => {
  const noise = '[    0.000000] Linux version 6.1.0\nlibguestfs: trace: i_distro = fedora\ncommandrvf: i_type = windows';
  it('reads the OS, the firmware, the buses and the machine', () => {
    const f = reportOf(`${noise}\n${INSPECT}\n[  27.9] Converting 12.8 to run on KVM\n${GCAPS}\n`).facts();
    expect(f).toEqual({
      os: { type: 'linux', distro: 'debian', major: 12, minor: 8, arch: 'x86_64', product: '12.8', osinfo: 'debian12' },
      uefi: true,
      diskBus: 'virtio',
      nicModel: 'virtio',
      machine: 'q35',
    });
  });
  it('a BIOS guest without virtio drivers: IDE (SATA on q35, IDE on pc), e1000 or rtl8139; osinfo unknown', () => {
    const bios = INSPECT.replace('UEFI [/dev/sda2]', 'BIOS').replace('debian12', 'unknown');
    const ide = GCAPS.replace('virtio-blk', 'ide').replace('virtio-net', 'e1000');
    expect(reportOf(`${bios}\n${ide}`).facts()).toMatchObject({ uefi: false, diskBus: 'sata', nicModel: 'e1000', machine: 'q35', os: { osinfo: '' } });
    const pc = ide.replace('q35', 'i440fx').replace('e1000', 'rtl8139');
    expect(reportOf(`${bios}\n${pc}`).facts()).toMatchObject({ diskBus: 'ide', nicModel: 'rtl8139', machine: 'pc' });
  });
  it("a block's first line after a cut console line (the same stderr) is read, only when the block's next line follows", () => {
    // As seen (test-v2v-virtio-win-iso.sh, two conversions at once): the
    // console line "guestfsd: => hivex_close (0x15f) took 0.00 secs" cut
    // after its "h" by virt-v2v-in-place's block of capabilities.
    const cutGcaps = GCAPS.replace('gcaps_block_bus', 'guestfsd: => hgcaps_block_bus');
    const cutInspect = INSPECT.replace('i_root', 'guestfsd: <= hivex_ci_root');
    expect(reportOf(`${cutInspect}\n${cutGcaps}\nivex_close (0x15f) took 0.00 secs\r`).facts()).toMatchObject({ diskBus: 'virtio', os: { distro: 'debian' } });
    // A trace or console line naming a key, not followed by the block: not taken.
    for (const before of ['libguestfs: trace: v2v: cat = "gcaps_block_bus = ide"', 'guestfsd: => gcaps_block_bus = ide\r', 'x gcaps_block_bus = ide\ngcaps_machine = q35']) {
      expect(reportOf(`${INSPECT}\n${before}\n${GCAPS}`).facts().diskBus).toBe('virtio');
    }
    // A console line cut just before a key that is not a block's first: a missing line, an error.
    expect(thrownBy(() => reportOf(`${INSPECT}\n${GCAPS.replace('gcaps_net_bus', 'guestfsd: => hgcaps_net_bus')}`).facts()).message).toMatch(/did not report gcaps_net_bus/);
  });
  it('the first report wins over a later line of the same name', () => {
    expect(reportOf(`${INSPECT}\n${GCAPS}\ni_distro = fedora`).facts().os.distro).toBe('debian');
  });
  it('a missing line is an error naming it, not a guess', () => {
    expect(thrownBy(() => reportOf(INSPECT).facts()).message).toBe(
      'convert: virt-v2v-in-place -v did not report gcaps_block_bus, gcaps_net_bus, gcaps_machine, gcaps_arch (is it version 2.2 or later?)',
    );
    expect(thrownBy(() => reportOf(`${INSPECT.replace(/^i_firmware.*$/m, '')}\n${GCAPS}`).facts()).message).toMatch(/did not report i_firmware \(/);
    expect(thrownBy(() => reportOf('').facts()).message).toMatch(/did not report i_root, i_type, /);
  });
  it('refuses values it does not know and machines the outputs cannot write', () => {
    expect(thrownBy(() => reportOf(`${INSPECT}\n${GCAPS.replace('virtio-net', 'vmxnet3')}`).facts()).message).toBe(
      'convert: virt-v2v-in-place reported gcaps_net_bus = vmxnet3, which this version does not know',
    );
    expect(thrownBy(() => reportOf(`${INSPECT.replace('i_major_version = 12', 'i_major_version = x')}\n${GCAPS}`).facts()).message).toMatch(
      /i_major_version = x: not a number/,
    );
    expect(thrownBy(() => reportOf(`${INSPECT}\n${GCAPS.replace('q35', 'virt').replace('gcaps_arch = x86_64', 'gcaps_arch = aarch64')}`).facts()).message).toBe(
      'convert: the converted guest needs machine type virt (aarch64); the outputs write x86 machines (q35, pc) only',
    );
  });
  it("returns virt-v2v's warnings, only those", () => {
    const r = new ConversionReport();
    const lines = [
      '[  27.9] Converting 12.15 to run on KVM',
      'virt-v2v-in-place: warning: could not determine a way to update the configuration of Grub2',
      'virt-v2v-in-place: The QEMU Guest Agent will be installed for this guest at first boot.',
      'virt-v2v: warning: another one ',
      'not virt-v2v-in-place: warning: quoted',
    ];
    expect(lines.map((l) => r.line(l)).filter((w) => w !== undefined)).toEqual(['could not determine a way to update the configuration of Grub2', 'another one']);
  });
});

describe('convert: the libvirt XML for virt-v2v-in-place', () => {
  const m: MetadataIn = {
    version: 1,
    kind: 'v2v-metadata-in',
    name: `a<b>&'"`,
    input: 'disk',
    memory: 2 ** 31,
    vcpus: 2,
    firmware: 'unknown',
    disks: [
      { index: 0, socket: 'in0', source: '/x', format: 'raw', size: 1, bus: 'unknown' },
      { index: 1, socket: 'in1', source: '/y', format: 'qcow2', size: 1, bus: 'ide' },
    ],
    nics: [{ vnet: 'default', vnetType: 'network' }],
    removables: [],
  };
  it('names each overlay as an NBD disk on localhost, escapes strings', () => {
    const x = conversionXml(m, [10809, 10810]);
    expect(x).toContain("<source protocol='nbd'><host name='localhost' port='10809'/></source>");
    expect(x).toContain("<target dev='sda' bus='scsi'/>");
    expect(x).toContain("<target dev='hdb' bus='ide'/>");
    expect(x).toContain('<name>a&lt;b&gt;&amp;&apos;&quot;</name>');
    expect(x).toContain("<memory unit='KiB'>2097152</memory>");
  });
});
