// What libvirt is told about the guest's OS: libosinfo's id (virt-v2v's
// get_osinfo_id in create_libvirt_xml.ml) and the arch (kvm_arch).
import type { GuestOs } from '../../metadata/schema.js';

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
