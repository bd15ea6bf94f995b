// The metadata of `-i libvirt [-ic URI] GUEST`, as virt-v2v 2.2 reads it
// (input/input_libvirt.ml, lib/libvirt_utils.ml get_domain): the guest
// looked up through libvirt, refused unless it is shut down, its XML read
// (virsh dumpxml --inactive) and parsed by the one libvirt XML parser of
// -i libvirtxml (../libvirtxml/parse.ts), with its checks. What libvirt
// adds: <disk type='volume'> resolved through the connection (vol-dumpxml).
//
// The state check: running, idle (blocked) and paused are refused, as
// virt-v2v refuses them. libvirt's test driver starts every domain of its
// file as it loads it, so virt-v2v skips the check for test: URIs (its
// own tests convert such "running" guests); we skip it for a running test
// domain only: a paused or idle one is what the file asked for
// (<test:runstate>), and is refused.
//
// Relative disk paths: against the file's directory for test:///FILE (the
// file -i libvirtxml would read), the current directory for other local
// connections (where virt-v2v's nbdkit would look), refused for remote ones.
import path from 'node:path';
import type { Logger } from 'pino';
import { InputError } from '../../../errors.js';
import type { VolumeLookup } from '../libvirtxml/disks.js';
import { parseLibvirtXml, libvirtXmlError } from '../libvirtxml/parse.js';
import { loadXml, quote, type Fail } from '../libvirtxml/xml.js';
import type { SourceGuest } from '../source.js';
import { sshUri } from '../ssh.js';
import { hasControl } from '../vmx/fail.js';
import { classify, remoteWarning } from './uri.js';
import { connectionUri, domainState, domainXml, volumeXml } from './virsh.js';

export interface LibvirtInput {
  connection?: string | undefined;
  guest: string;
}

export interface ReadLibvirtOptions {
  log: Logger;
  warn: (message: string) => void;
  signal?: AbortSignal | undefined;
}

/** How messages name the guest: "libvirt domain ‘NAME’ (-ic URI)". */
export function libvirtLabel(input: LibvirtInput): string {
  return `libvirt domain ‘${input.guest}’${input.connection !== undefined ? ` (-ic ${input.connection})` : ''}`;
}

const REFUSED = new Set(['running', 'idle', 'paused']);

/** virt-v2v's refusal of a guest that is not shut down, or undefined. */
export function stateProblem(guest: string, state: string, isTest: boolean): string | undefined {
  if (!REFUSED.has(state) || (isTest && state === 'running')) return undefined;
  return `libvirt domain ‘${guest}’ is running or paused.  It must be shut down in order to perform virt-v2v conversion`;
}

/** The volumes the domain's <disk type='volume'> elements name, resolved through the connection. */
async function volumes(text: string, label: string, o: ReadLibvirtOptions & { connection?: string | undefined }): Promise<VolumeLookup> {
  const fail: Fail = (m) => {
    throw libvirtXmlError(label, m);
  };
  const found = new Map<string, { path: string; format?: string }>();
  const key = (pool: string, volume: string) => JSON.stringify([pool, volume]);
  const domain = loadXml(text, 'domain', fail);
  for (const disk of domain.child('devices')?.children('disk') ?? []) {
    // Removables are listed, never read: a cdrom's volume need not be found.
    const source = disk.attr('type') === 'volume' && (disk.attr('device') ?? 'disk') === 'disk' ? disk.child('source') : undefined;
    const pool = source?.attr('pool');
    const volume = source?.attr('volume');
    if (!pool || !volume || found.has(key(pool, volume))) continue;
    if (hasControl(pool) || hasControl(volume)) return fail(`<source pool=... volume=...>: contains control characters: ${quote(`${pool}/${volume}`)}`);
    const what = `volume ${quote(volume)} of pool ${quote(pool)}`;
    const failVol: Fail = (m) => fail(`${what}: ${m}`);
    const vol = loadXml(await volumeXml(pool, volume, { ...o, label }), 'volume', failVol);
    const type = vol.attr('type') ?? 'file';
    if (type !== 'file' && type !== 'block') return failVol(`type=${quote(type)} is not supported (only file and block)`);
    const file = vol.child('target')?.child('path')?.text() ?? '';
    if (!path.isAbsolute(file)) return failVol(`no absolute <target><path> (${quote(file)})`);
    const format = vol.child('target')?.child('format')?.attr('type');
    if (format !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(format)) return failVol(`<format type=...>: not a disk format: ${quote(format)}`);
    found.set(key(pool, volume), { path: file, ...(format ? { format } : {}) });
  }
  return (pool, volume) => found.get(key(pool, volume));
}

/** Read the guest's metadata through libvirt (input checked by options.ts: uri.ts's rules). */
export async function readLibvirt(input: LibvirtInput, o: ReadLibvirtOptions): Promise<SourceGuest> {
  const conn = classify(input.connection);
  const label = libvirtLabel(input);
  const v = { connection: input.connection, signal: o.signal, label };
  if (conn.kind === 'remote') o.warn(remoteWarning(input.connection!));
  const state = await domainState(input.guest, v);
  // virt-v2v asks the connection for its URI: libvirt's default may be test: too.
  const uri = input.connection ?? (await connectionUri(v));
  o.log.info({ guest: input.guest, uri, state }, 'libvirt: domain state');
  const refused = stateProblem(input.guest, state, /^test:/i.test(uri));
  if (refused) {
    const err = new InputError(refused);
    err.step = 'input';
    throw err;
  }
  const text = await domainXml(input.guest, v);
  o.log.debug({ xml: text }, 'libvirt: domain XML');
  const dir = conn.kind !== 'local' ? '' : conn.testFile !== undefined ? path.dirname(conn.testFile) : process.cwd();
  const guest = parseLibvirtXml(text, label, { dir, volumes: await volumes(text, label, { ...o, ...v }) });
  if (conn.kind !== 'xen+ssh') return guest;
  // Xen over SSH: each disk a file on the host, read through nbdkit's ssh plugin (virt-v2v's input_xen_ssh.ml).
  const fail: Fail = (m) => {
    throw libvirtXmlError(label, m);
  };
  for (const disk of loadXml(text, 'domain', fail).child('devices')?.children('disk') ?? []) {
    const type = disk.attr('type') ?? 'file';
    if ((disk.attr('device') ?? 'disk') !== 'disk' || type === 'file') continue;
    if (type === 'block') {
      return fail(
        'input from xen over ssh does not support disks stored on remote block devices.  See virt-v2v-input-xen(1) section "Xen or ssh conversions from block devices".',
      );
    }
    return fail(`<disk type=${quote(type)}>: only files on the Xen host can be read over SSH`);
  }
  return { ...guest, disks: guest.disks.map((d) => ({ ...d, location: sshUri({ ...conn.ssh, path: d.location }) })) };
}
