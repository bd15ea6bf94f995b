import { describe, expect, it } from 'vitest';
import { parseInspection, virtioFromOutput, warningsFromOutput } from '../../../src/steps/convert/convert.js';
import { conversionXml } from '../../../src/steps/convert/libvirt-xml.js';
import type { MetadataIn } from '../../../src/metadata/schema.js';

// The shape virt-inspector (libguestfs 1.48) prints.
const INSPECTED = `<?xml version="1.0"?>
<operatingsystems>
  <operatingsystem>
    <root>/dev/sda1</root>
    <name>linux</name>
    <arch>x86_64</arch>
    <distro>debian</distro>
    <product_name>12.8</product_name>
    <major_version>12</major_version>
    <minor_version>8</minor_version>
    <package_format>deb</package_format>
    <hostname>sample &amp; co</hostname>
    <osinfo>debian12</osinfo>
    <mountpoints>
      <mountpoint dev="/dev/sda2">/boot/efi</mountpoint>
      <mountpoint dev="/dev/sda1">/</mountpoint>
    </mountpoints>
  </operatingsystem>
</operatingsystems>
`;

describe('convert: inspection and output parsing', () => {
  it('reads the OS and sees an EFI system partition', () => {
    const r = parseInspection(INSPECTED);
    expect(r.os).toEqual({ type: 'linux', distro: 'debian', major: 12, minor: 8, arch: 'x86_64', product: '12.8', osinfo: 'debian12' });
    expect(r.uefi).toBe(true);
    expect(parseInspection(INSPECTED.replace(/<mountpoint dev="\/dev\/sda2">\/boot\/efi<\/mountpoint>/, '')).uefi).toBe(false);
  });
  it('refuses a DOCTYPE or entities, and says when no OS was found', () => {
    expect(() => parseInspection(`<!DOCTYPE x [<!ENTITY a "b">]>${INSPECTED}`)).toThrow(/DOCTYPE/);
    expect(() => parseInspection('<?xml version="1.0"?>\n<operatingsystems/>\n')).toThrow(/no operating system/);
  });
  it('reads what virt-v2v says about virtio drivers', () => {
    expect(virtioFromOutput('[ 60.1] Finishing off\nThis guest has virtio drivers installed.\n')).toBe(true);
    expect(virtioFromOutput('This guest does not have virtio drivers installed.')).toBe(false);
    expect(virtioFromOutput('nothing')).toBeUndefined();
  });

  it("relays virt-v2v's warnings, only those", () => {
    // As virt-v2v-in-place 2.2 printed them converting the sample guest.
    const out = [
      '[  27.9] Converting 12.15 to run on KVM',
      'virt-v2v-in-place: warning: could not determine a way to update the configuration of Grub2',
      'virt-v2v-in-place: The QEMU Guest Agent will be installed for this guest at first boot.',
      'virt-v2v: warning: another one ',
      'not virt-v2v-in-place: warning: quoted',
    ].join('\n');
    expect(warningsFromOutput(out)).toEqual(['could not determine a way to update the configuration of Grub2', 'another one']);
    expect(warningsFromOutput('')).toEqual([]);
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
