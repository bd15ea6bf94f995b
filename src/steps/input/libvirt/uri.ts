// -i libvirt's connection (-ic URI) and guest name, checked before virsh
// runs (options.ts refuses what these functions call a problem), and the
// connection classified as virt-v2v 2.2 classifies it (v2v/v2v.ml):
//   - no host (qemu:///system, qemu:///session, test:///FILE, an alias,
//     or no -ic: libvirt's default URI): the disks are local files;
//   - vpx://, esx://, gsx://: VMware, through nbdkit's VDDK plugin or
//     vCenter's HTTPS, neither of which is here: refused;
//   - xen+ssh://[USER@]HOST[:PORT]: the disks are files on HOST, read over
//     SSH (nbdkit's ssh plugin, as -it ssh reads a .vmx's disks);
//   - any other remote URI (qemu+ssh://, qemu+tls://, ...): virt-v2v warns
//     that it cannot read the disks there and opens them as local paths
//     (shared storage mounted at the same place); so do we.
import path from 'node:path';
import { hasControl, quote } from '../vmx/fail.js';
import type { SshLocation } from '../ssh.js';

export type LibvirtConnection =
  /** No host. `testFile`: test:///FILE, the file whose directory anchors relative disk paths. */
  | { kind: 'local'; testFile?: string }
  | { kind: 'xen+ssh'; ssh: Omit<SshLocation, 'path'> }
  | { kind: 'remote' };

const VMWARE = new Set(['vpx', 'esx', 'gsx']);

// RFC 3986's generic syntax: scheme, authority, path, query, fragment.
const URI = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?[^#]*)?(?:#.*)?$/;
// libvirt's URI aliases (libvirt.conf uri_aliases): a bare name.
const ALIAS = /^[A-Za-z0-9_.+-]+$/;

export interface Parts {
  scheme: string;
  user?: string;
  host: string;
  port?: number;
  path: string;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** A URI's parts (undefined: not a URI, such as an alias). */
export function uriParts(uri: string): Parts | undefined {
  const m = URI.exec(uri);
  if (!m) return undefined;
  const authority = m[2] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hostport = authority.slice(at + 1);
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostport);
  if (!hp) return undefined;
  const user = userinfo === undefined ? undefined : decode(userinfo.split(':')[0]!);
  const file = decode(m[3]!);
  if (file === undefined || (userinfo !== undefined && user === undefined)) return undefined;
  return {
    scheme: m[1]!.toLowerCase(),
    host: hp[1]!.replace(/^\[(.*)\]$/, '$1'),
    path: file,
    ...(user !== undefined && user !== '' ? { user } : {}),
    ...(hp[2] ? { port: Number(hp[2]) } : {}),
  };
}

/** Why `-ic URI` (or FLAG URI: -oc) is refused (one line), or undefined. */
export function connectionProblem(uri: string, flag = '-ic'): string | undefined {
  if (uri === '') return `${flag}: the URI is empty`;
  if (hasControl(uri)) return `${flag} ${quote(uri)}: contains control characters`;
  if (uri.startsWith('-')) return `${flag} ${quote(uri)}: not a libvirt URI`;
  const p = uriParts(uri);
  if (!p) return ALIAS.test(uri) ? undefined : `${flag} ${quote(uri)}: not a libvirt URI (expected DRIVER[+TRANSPORT]://[[USER@]HOST[:PORT]]/PATH)`;
  const base = p.scheme.split('+')[0]!;
  if (VMWARE.has(base)) {
    return `${flag} ${uri}: VMware vCenter/ESXi ${flag === '-ic' ? 'input' : 'output'} (vpx://, esx://) needs nbdkit's VDDK plugin and VMware's libraries, not available here`;
  }
  if (p.port !== undefined && (p.port < 1 || p.port > 65535)) return `${flag} ${quote(uri)}: port ${p.port} is not 1 to 65535`;
  if (p.user !== undefined && hasControl(p.user)) return `${flag} ${quote(uri)}: the user name holds a control character`;
  if (p.scheme === 'xen+ssh' && p.host === '') return `${flag} ${uri}: URL does not contain a host name field`;
  return undefined;
}

/** Why the guest name of `-i libvirt GUEST` is refused (one line), or undefined. */
export function guestProblem(guest: string): string | undefined {
  if (guest === '') return '-i libvirt: the guest name is empty';
  if (hasControl(guest)) return `-i libvirt: the guest name ${quote(guest)} contains control characters`;
  return undefined;
}

/** The kind of a connection that connectionProblem passed (undefined: libvirt's default URI). */
export function classify(uri: string | undefined): LibvirtConnection {
  const p = uri === undefined ? undefined : uriParts(uri);
  if (!p || p.host === '') {
    // test:///default is the driver's built-in node; any other absolute path is a file.
    const testFile = p?.scheme === 'test' && path.isAbsolute(p.path) && p.path !== '/default' ? path.normalize(p.path) : undefined;
    return testFile ? { kind: 'local', testFile } : { kind: 'local' };
  }
  if (p.scheme === 'xen+ssh') {
    return {
      kind: 'xen+ssh',
      ssh: { host: p.host, ...(p.user !== undefined ? { user: p.user } : {}), ...(p.port !== undefined && p.port !== 22 ? { port: p.port } : {}) },
    };
  }
  return { kind: 'remote' };
}

/** virt-v2v's warning for a remote URI whose disks it cannot reach. */
export function remoteWarning(uri: string): string {
  return `no support for remote libvirt connections to '-ic ${uri}'.  The conversion may fail when it tries to read the source disks.`;
}
