// -o libvirt's target (virt-v2v's output_libvirt.ml): a libvirt connection
// on this machine (-oc URI, default libvirt's), a storage pool of type 'dir'
// (-os POOL, default "default") whose volumes are files here, and a domain
// name. Everything is checked before anything starts (preflight); the disks
// are volumes created through libvirt (vol-create), filled by our copy
// through their paths, and the guest is defined last. Undo deletes the
// volumes this job created, through libvirt, and nothing else.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../../errors.js';
import { oneLine, virsh, VirshFailure } from '../../../libvirt/virsh.js';
import { uriParts } from '../../input/libvirt/uri.js';
import { xmlAttr, xmlText } from '../xml-dom.js';

export const DEFAULT_POOL = 'default';

export interface LibvirtTargetOptions {
  /** -oc URI; undefined: libvirt's default. */
  connection?: string | undefined;
  /** -os POOL; undefined: "default". */
  storage?: string | undefined;
  name: string;
  signal?: AbortSignal | undefined;
}

export interface LibvirtTarget {
  connection?: string | undefined;
  /** The URI libvirt connected to (virsh uri). */
  uri: string;
  pool: string;
  /** The pool's directory, resolved. */
  poolPath: string;
}

const fail = (message: string, cause?: unknown): InputError => new InputError(oneLine(message), cause === undefined ? undefined : { cause });

async function run(args: string[], o: { connection?: string | undefined; signal?: AbortSignal | undefined }, what: string): Promise<string> {
  try {
    return (await virsh(args, { connection: o.connection, signal: o.signal, label: '-o libvirt', fail })).toString('utf8');
  } catch (err) {
    if (err instanceof VirshFailure) throw fail(`-o libvirt: ${what}: ${err.message}`, err);
    throw err;
  }
}

/** Does libvirt have a domain of this exact name (virsh's lookups would also take it as an ID or UUID)? */
async function domainExists(name: string, o: LibvirtTargetOptions): Promise<boolean> {
  const names = await run(['list', '--all', '--name'], o, 'cannot list the domains');
  return names.split('\n').includes(name);
}

const remote = (uri: string): string =>
  `-o libvirt: ${uri} is a remote libvirt: -o libvirt writes the disks on this machine (use -o local, copy the disks there, then virsh define the XML)`;

const attr = (xml: string, re: RegExp): string | undefined => re.exec(xml)?.[1];
const unescape = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/**
 * Connect, and check what virt-v2v checks before it converts (and more):
 * the connection is a QEMU one on this machine, no domain has the name,
 * the pool exists, is active, is of type 'dir' with a local directory, and
 * holds no volume or file NAME-sd<letters> (`isOurDisk`).
 */
export async function libvirtPreflight(o: LibvirtTargetOptions, isOurDisk: (file: string) => boolean): Promise<LibvirtTarget> {
  const given = o.connection === undefined ? undefined : uriParts(o.connection);
  if (given && given.host !== '') throw fail(remote(o.connection!));
  const uri = (await run(['uri'], o, 'cannot connect to libvirt')).trim();
  const p = uriParts(uri);
  if (p && p.host !== '') throw fail(remote(uri));
  if (!p || p.scheme.split('+')[0] !== 'qemu') throw fail(`-o libvirt: ${uri} is not a QEMU/KVM connection (qemu:///system or qemu:///session)`);
  if (await domainExists(o.name, o)) {
    throw fail(`-o libvirt: a libvirt domain called ‘${o.name}’ already exists on the target: use -on to choose another name, or remove it (virsh undefine)`);
  }
  const asked = o.storage ?? DEFAULT_POOL;
  const xml = await run(['pool-dumpxml', '--', asked], o, `output pool ‘${asked}’`);
  // -os may be the pool's UUID; the domain XML names it by name (as virt-v2v).
  const pool = unescape(attr(xml, /<name>([^<]*)<\/name>/) ?? asked);
  if (attr(xml, /<pool\s[^>]*type=['"]([^'"]*)['"]/) !== 'dir') {
    throw fail(`-o libvirt: output pool ‘${pool}’ is not a directory (type='dir')`);
  }
  const dir = attr(xml, /<target>\s*<path>([^<]*)<\/path>/);
  if (dir === undefined) throw fail(`-o libvirt: output pool ‘${pool}’ does not have a /pool/target/path element`);
  const info = await run(['pool-info', '--', pool], o, `output pool ‘${pool}’`);
  if (!/^State:\s+running$/m.test(info)) throw fail(`-o libvirt: output pool ‘${pool}’ is not active (virsh pool-start ${pool})`);
  let poolPath: string;
  try {
    poolPath = realpathSync(unescape(dir));
    if (!statSync(poolPath).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw fail(`-o libvirt: output pool ‘${pool}’ has type='dir' but its path ${unescape(dir)} is not a local directory`, err);
  }
  const clash = readdirSync(poolPath).filter(isOurDisk).sort();
  if (clash.length) {
    throw fail(`-o libvirt: output pool ‘${pool}’ already holds ${clash.join(', ')}: virt-v2v does not overwrite; remove ${clash.length === 1 ? 'it' : 'them'} (virsh vol-delete) or choose another name with -on`);
  }
  return { ...(o.connection !== undefined ? { connection: o.connection } : {}), uri, pool, poolPath };
}

let volumeFiles = 0;

export interface VolumeSpec {
  name: string;
  size: number;
  format: 'raw' | 'qcow2';
  allocation: 'sparse' | 'preallocated';
}

/**
 * Create volume NAME in the pool (vol-create, from an XML written in the
 * private work dir): mode 0600, sparse unless preallocated. Its path, checked
 * to be the file NAME in the pool's directory.
 */
export async function createVolume(t: LibvirtTarget, v: VolumeSpec, workdir: string, signal?: AbortSignal): Promise<string> {
  const xml = [
    '<volume>',
    `  <name>${xmlText(v.name)}</name>`,
    `  <capacity unit='bytes'>${v.size}</capacity>`,
    `  <allocation unit='bytes'>${v.allocation === 'preallocated' ? v.size : 0}</allocation>`,
    `  <target><format type='${xmlAttr(v.format)}'/><permissions><mode>0600</mode></permissions></target>`,
    '</volume>',
    '',
  ].join('\n');
  const file = path.join(workdir, `volume-${++volumeFiles}.xml`);
  await writeFile(file, xml, { mode: 0o600, flag: 'wx' });
  const o = { connection: t.connection, signal };
  // qcow2: libvirt preallocates (falloc) only when told to.
  const prealloc = v.allocation === 'preallocated' && v.format === 'qcow2' ? ['--prealloc-metadata'] : [];
  await run(['vol-create', '--pool', t.pool, '--file', file, ...prealloc], o, `cannot create volume ‘${v.name}’ in pool ‘${t.pool}’`);
  const got = (await run(['vol-path', '--pool', t.pool, '--', v.name], o, `volume ‘${v.name}’`)).trim();
  if (path.dirname(got) !== t.poolPath && realpathSync(path.dirname(got)) !== t.poolPath) {
    throw fail(`-o libvirt: volume ‘${v.name}’ is at ${got}, not in pool ‘${t.pool}’'s directory ${t.poolPath}`);
  }
  if (path.basename(got) !== v.name) throw fail(`-o libvirt: volume ‘${v.name}’ is at ${got}, not a file of its name`);
  return got;
}

/** Delete volume NAME through libvirt. Throws a one-line error. */
export async function deleteVolume(t: Pick<LibvirtTarget, 'connection' | 'pool'>, name: string): Promise<void> {
  await run(['vol-delete', '--pool', t.pool, '--', name], { connection: t.connection }, `cannot delete volume ‘${name}’`);
}

/** Tell libvirt the volumes' new allocation (we wrote them behind its back). */
export async function refreshPool(t: Pick<LibvirtTarget, 'connection' | 'pool'>): Promise<void> {
  await run(['pool-refresh', '--', t.pool], { connection: t.connection }, `cannot refresh pool ‘${t.pool}’`);
}

/** The domain type for a guest of ARCH: 'kvm' where the target offers it, else 'qemu' (TCG). */
export async function domainTypeFor(t: LibvirtTarget, arch: string, signal?: AbortSignal): Promise<'kvm' | 'qemu'> {
  const caps = await run(['capabilities'], { connection: t.connection, signal }, 'cannot read the hypervisor\'s capabilities');
  const guests = caps.match(/<guest>[\s\S]*?<\/guest>/g) ?? [];
  const forArch = guests.filter((g) => new RegExp(`<arch\\s+name=['"]${arch.replace(/[^A-Za-z0-9_]/g, '')}['"]`).test(g));
  if (forArch.length === 0) throw fail(`-o libvirt: the target hypervisor (${t.uri}) has no ${arch} guests`);
  return forArch.some((g) => /<domain\s+type=['"]kvm['"]/.test(g)) ? 'kvm' : 'qemu';
}

/** Define (not start) the guest from XML, written in the private work dir first. */
export async function defineDomain(t: LibvirtTarget, name: string, xml: string, workdir: string, signal?: AbortSignal): Promise<void> {
  const file = path.join(workdir, 'domain.xml');
  await writeFile(file, xml, { mode: 0o600 });
  await run(['define', '--file', file], { connection: t.connection, signal }, `cannot define domain ‘${name}’`);
}
