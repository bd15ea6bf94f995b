// The output's libvirt XML as virt-v2v writes it (issue 10): the arch is
// virt-v2v's kvm_arch, so a 32-bit x86 guest gets x86_64.
import { describe, expect, it } from 'vitest';
import { guestArch, libvirtXml } from '../../../../src/steps/output/libvirt-xml.js';

const os = (arch: string) => ({ type: 'linux', distro: 'fedora', major: 14, minor: 0, arch, product: 'Fedora 14', osinfo: 'fedora14' });

describe('output libvirt XML', () => {
  it("arch: i386 ... i686, x86_64 and unknown guests run as x86_64, as virt-v2v's kvm_arch", () => {
    expect(['i386', 'i486', 'i586', 'i686', 'x86_64', 'unknown'].map((a) => guestArch(os(a)))).toEqual(Array(6).fill('x86_64'));
    expect(guestArch(null)).toBe('x86_64');
    expect(guestArch(os('aarch64'))).toBe('aarch64');
  });

  it("a converted i686 guest's NAME.xml says arch='x86_64'", () => {
    const xml = libvirtXml(
      {
        version: 1,
        kind: 'v2v-metadata-out',
        name: 'f14',
        converted: true,
        os: os('i686'),
        firmware: 'bios',
        machine: 'q35',
        memory: 1 << 30,
        vcpus: 1,
        diskBus: 'virtio',
        nicModel: 'virtio',
        disks: [{ index: 0, size: 1 << 20 }],
        nics: [],
      },
      'f14',
      [{ index: 0, path: '/out/f14-sda', format: 'raw' }],
    );
    expect(xml).toMatch(/<type arch='x86_64'[^>]*>hvm<\/type>/);
    expect(xml).not.toContain('i686');
  });
});
