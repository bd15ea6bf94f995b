// The <disk> elements of a libvirt domain XML, as virt-v2v's
// parse_libvirt_xml.ml reads them: device='disk' are copied, in document
// order; cdrom and floppy are removables, recorded but never copied.
// Where virt-v2v skips a disk it cannot read (with a warning), we refuse:
// a guest converted without one of its disks is worse than an error.
import path from 'node:path';
import type { SourceBus, SourceDisk, SourceRemovable } from '../source.js';
import { removableSlot } from './hardware.js';
import { quote, type Fail, type XmlElement } from './xml.js';

/** A source we can describe: a location (a volume's with its format), none written, or one we cannot use (why). */
type Source = { location: string; format?: string } | { missing: string } | { unsupported: string };

/**
 * A storage pool's volume as libvirt describes it (virsh vol-dumpxml),
 * for <disk type='volume'>; only -i libvirt has a connection to ask.
 */
export type VolumeLookup = (pool: string, volume: string) => { path: string; format?: string } | undefined;

const BUSES: ReadonlySet<string> = new Set<SourceBus>(['ide', 'sata', 'scsi', 'virtio', 'nvme']);

/** <target bus>: usb, xen, sd, fdc, ... and none are 'unknown'. */
function bus(target: XmlElement | undefined): SourceBus {
  const b = target?.attr('bus');
  return b !== undefined && BUSES.has(b) ? (b as SourceBus) : 'unknown';
}

/** Refuse control characters (NUL included): they have no place in a path or name. */
export function checkNoControl(value: string, what: string, fail: Fail): string {
  if (/[\x00-\x1F\x7F]/.test(value)) return fail(`${what}: contains NUL or control characters: ${quote(value)}`);
  return value;
}

/**
 * A local path, resolved against the XML file's directory; it need not
 * exist yet. With no directory (dir ''), a relative path is refused.
 */
function localPath(p: string, dir: string, what: string, fail: Fail): string {
  checkNoControl(p, what, fail);
  if (dir === '' && !path.isAbsolute(p)) return fail(`${what}: a relative path (${quote(p)}) where only an absolute one means anything`);
  return path.resolve(dir, p);
}

// The URI's path, each segment percent-encoded; '/' stays.
function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

function port(host: XmlElement, fail: Fail): string | undefined {
  const p = host.attr('port');
  if (p === undefined || p === '') return undefined;
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return fail(`<host port=...>: expected 1 to 65535, got ${quote(p)}`);
  return String(Number(p));
}

/** The host name of a URI: a DNS name or IPv4 address, or an IPv6 address in brackets. */
function hostName(host: XmlElement, fail: Fail): string {
  const name = host.attr('name');
  if (name === undefined || name === '') return fail('no <host name=...>');
  if (/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name)) return name;
  const v6 = /^\[?([0-9A-Fa-f:.]+)\]?$/.exec(name);
  if (v6 && v6[1]!.includes(':')) return `[${v6[1]}]`;
  return fail(`<host name=...>: not a host name or IP address: ${quote(name)}`);
}

function oneHost(source: XmlElement, fail: Fail): XmlElement {
  const hosts = source.children('host');
  if (hosts.length === 0) return fail('no <host> in <source>');
  if (hosts.length > 1) return fail('more than one <host> in <source> (not supported)');
  return hosts[0]!;
}

/** <source protocol='nbd' name='EXPORT'>: nbd://host:port/EXPORT or nbd+unix:///EXPORT?socket=PATH. */
function nbdSource(source: XmlElement, dir: string, fail: Fail): Source {
  if (source.attr('tls') === 'yes') return { unsupported: 'NBD over TLS (tls=yes) is not supported' };
  const host = oneHost(source, fail);
  const exportName = encodePath(checkNoControl(source.attr('name') ?? '', '<source name=...>', fail));
  const transport = host.attr('transport') ?? 'tcp';
  if (transport === 'unix') {
    const socket = host.attr('socket');
    if (socket === undefined || socket === '') return fail('no <host socket=...> for transport unix');
    const abs = localPath(socket, dir, '<host socket=...>', fail);
    return { location: `nbd+unix:///${exportName}?socket=${encodeURIComponent(abs).replace(/%2F/g, '/')}` };
  }
  if (transport !== 'tcp') return { unsupported: `NBD transport ${quote(transport)} is not supported (only tcp and unix)` };
  const p = port(host, fail);
  return { location: `nbd://${hostName(host, fail)}${p ? `:${p}` : ''}/${exportName}` };
}

/** <source protocol='https' name='/PATH' query='Q'>: https://host:port/PATH?Q. */
function httpSource(protocol: 'http' | 'https', source: XmlElement, fail: Fail): Source {
  if (source.child('auth')) return { unsupported: `${protocol} with <auth> needs a libvirt secret; not supported with -i libvirtxml` };
  const host = oneHost(source, fail);
  const name = checkNoControl(source.attr('name') ?? '', '<source name=...>', fail);
  const query = checkNoControl(source.attr('query') ?? '', '<source query=...>', fail);
  if (/[\s#]/.test(query)) return fail(`<source query=...>: not a URI query: ${quote(query)}`);
  let p = port(host, fail);
  if ((protocol === 'https' && p === '443') || (protocol === 'http' && p === '80')) p = undefined;
  const file = encodePath(name.startsWith('/') ? name : `/${name}`);
  return { location: `${protocol}://${hostName(host, fail)}${p ? `:${p}` : ''}${file}${query ? `?${query}` : ''}` };
}

function diskSource(disk: XmlElement, dir: string, fail: Fail, volumes?: VolumeLookup): Source {
  // libvirt's default disk type is 'file'.
  const type = disk.attr('type') ?? 'file';
  const source = disk.child('source');
  switch (type) {
    case 'file':
    case 'block': {
      const attr = type === 'file' ? 'file' : 'dev';
      const p = source?.attr(attr);
      if (p === undefined || p === '') return { missing: `no <source ${attr}=...>` };
      return { location: localPath(p, dir, `<source ${attr}=...>`, fail) };
    }
    case 'network': {
      const protocol = source?.attr('protocol');
      if (source === undefined || protocol === undefined) return { missing: 'no <source protocol=...>' };
      if (protocol === 'nbd') return nbdSource(source, dir, fail);
      if (protocol === 'http' || protocol === 'https') return httpSource(protocol, source, fail);
      return { unsupported: `network protocol ${quote(protocol)} is not supported (only nbd, http and https)` };
    }
    case 'volume': {
      const pool = source?.attr('pool') ?? '';
      const volume = source?.attr('volume') ?? '';
      const found = volumes?.(pool, volume);
      if (found) return { location: localPath(found.path, dir, `volume ${quote(volume)} of pool ${quote(pool)}`, fail), ...(found.format ? { format: found.format } : {}) };
      if (volumes) return { unsupported: `type='volume': no volume ${quote(volume)} in pool ${quote(pool)}` };
      return {
        unsupported:
          `type='volume' (pool ${quote(pool)}, volume ${quote(volume)}) needs a libvirt connection to find the volume; ` +
          "not supported with -i libvirtxml: use <disk type='file'> or 'block' with the volume's path",
      };
    }
    default:
      return { unsupported: `type=${quote(type)} is not supported (only file, block and network)` };
  }
}

/** <driver type>: the format; Xen's 'aio' means raw (as virt-v2v reads it). */
function format(disk: XmlElement, fail: Fail): string | undefined {
  const t = disk.child('driver')?.attr('type');
  if (t === undefined || t === '') return undefined;
  if (t === 'aio') return 'raw';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(t)) return fail(`<driver type=...>: not a disk format: ${quote(t)}`);
  return t;
}

/**
 * Disks and removables of <devices>. Errors name the <disk> by its
 * position among all <disk> elements (1-based, cdroms included, as the user
 * counts them in the file) and its <target dev>.
 */
export function parseDisks(
  devices: XmlElement | undefined,
  dir: string,
  fail: Fail,
  volumes?: VolumeLookup,
): { disks: SourceDisk[]; removables: SourceRemovable[] } {
  const disks: SourceDisk[] = [];
  const removables: SourceRemovable[] = [];
  for (const [i, disk] of (devices?.children('disk') ?? []).entries()) {
    const failNoDev: Fail = (msg) => fail(`<disk> ${i + 1}: ${msg}`);
    const target = disk.withFail(failNoDev).child('target');
    const dev = target?.attr('dev');
    const where = `<disk> ${i + 1}${dev ? ` (${/^[\w.-]{1,32}$/.test(dev) ? dev : quote(dev)})` : ''}`;
    const failHere: Fail = (msg) => fail(`${where}: ${msg}`);
    const el = disk.withFail(failHere);
    // libvirt's default device is 'disk'.
    const device = el.attr('device') ?? 'disk';
    if (device === 'disk') {
      const src = diskSource(el, dir, failHere, volumes);
      if ('missing' in src) return failHere(src.missing);
      if ('unsupported' in src) return failHere(src.unsupported);
      // A volume's own format (virt-v2v reads it from the volume, not <driver>).
      const fmt = src.format ?? format(el, failHere);
      disks.push({ location: src.location, ...(fmt ? { format: fmt } : {}), bus: bus(target) });
    } else if (device === 'cdrom' || device === 'floppy') {
      // Never copied: an empty drive or a source we cannot describe is just no location.
      const src = diskSource(el, dir, failHere, volumes);
      const slot = removableSlot(dev);
      removables.push({ kind: device, ...('location' in src ? { location: src.location } : {}), bus: bus(target), ...(slot !== undefined ? { slot } : {}) });
    } else {
      return failHere(`device=${quote(device)} is not supported (only disk, cdrom and floppy)`);
    }
  }
  return { disks, removables };
}
