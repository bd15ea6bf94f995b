// The metadata side of `-i ova FILE` (virt-v2v 2.x's input_ova.ml and
// OVA.ml): FILE is an OVA (an uncompressed tar; a gzip- or xz-compressed tar
// or a zip file, which we unpack) or a directory holding an unpacked OVA. We
// find its one .ovf, read the guest from it, check the disks against every
// manifest and say where each disk's bytes are and how to open them
// (format.ts); opening the disks (qemu-img info, overlays, decompressing
// gzip members, comparing capacities) is the caller's job.
//
// An uncompressed tar's disks stay in place: SourceDisk.location is the .ova
// and tarRange the member's bytes (virt-v2v's "tar optimisation"). What a
// disk names besides itself (backing files, extents, ...) must be another
// member (chain.ts).
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SourceDisk, SourceGuest } from '../source.js';
import { checkedPath, lookup, openDirectoryArchive, openTarArchive, readHead, readSmallFile, type ArchiveFile, type OvaArchive } from './archive.js';
import { checkMember } from './chain.js';
import { extractCompressedOva } from './extract.js';
import { chooseFormat, diskHead } from './format.js';
import { errnoText, ovaError, throwIfAborted } from './fail.js';
import { verifyManifest } from './manifest.js';
import { MAX_OVF_SIZE, decodeOvf, parseOvf, type OvfDisk } from './ovf.js';
import { checkName } from './tar.js';
import { extractZipOva } from './zip.js';

export interface ReadOvaOptions {
  signal?: AbortSignal;
  /**
   * Where to unpack a gzip- or xz-compressed OVA or a zip file (created if
   * missing, must be empty; the caller removes it). Without it such an OVA
   * is refused.
   */
  extractDir?: string;
  /** What the user should hear about (a manifest line we could not parse, an OVF format set aside). */
  warn?: (message: string) => void;
}

type Sniffed = 'gzip' | 'xz' | 'zip' | 'other';

async function sniff(file: string): Promise<Sniffed> {
  let head: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      head = Buffer.alloc(6);
      head = head.subarray(0, (await fh.read(head, 0, 6, 0)).bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ovaError([file, errnoText(err)], err);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) return 'zip';
  return 'other';
}

/** Whether FILE is an OVA that readOva unpacks (gzip, xz, zip): the caller then gives it an extractDir. */
export async function needsUnpacking(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile() && (await sniff(file)) !== 'other';
  } catch {
    return false; // readOva will name the problem
  }
}

async function openOva(file: string, opts: ReadOvaOptions): Promise<OvaArchive> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw ovaError([file, errnoText(err)], err);
  }
  if (st.isDirectory()) return openDirectoryArchive(file, file, opts.signal);
  if (!st.isFile()) throw ovaError([file, 'not a regular file or directory']);
  const kind = await sniff(file);
  if (kind === 'other') return openTarArchive(file, file, opts.signal);
  const what = kind === 'zip' ? 'zip file' : `${kind}-compressed OVA`;
  if (opts.extractDir === undefined) throw ovaError([file, `${what}: no directory was given to unpack it into`]);
  const dir = kind === 'zip' ? await extractZipOva(file, opts.extractDir, opts.signal) : await extractCompressedOva(file, opts.extractDir, opts.signal, kind);
  return openDirectoryArchive(dir, file, opts.signal);
}

/** The archive's one .ovf (at any depth, as virt-v2v looks for it). */
function theOvf(a: OvaArchive): string {
  const found = [...a.entries.keys()].filter((n) => /\.ovf$/i.test(n));
  if (found.length === 0) throw ovaError([a.label, 'no .ovf file was found']);
  if (found.length > 1) throw ovaError([a.label, `more than one .ovf file was found (${found.slice(0, 3).join(', ')})`]);
  return found[0]!;
}

/**
 * The file an href names, relative to the OVF's directory. VMware OVAs
 * may ship "disk1.vmdk.000000000" for href "disk1.vmdk" (RHBZ#1570407):
 * then the highest such snapshot is taken, as virt-v2v does.
 */
function diskFile(a: OvaArchive, ovfDir: string, href: string): { name: string; file: ArchiveFile } {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) throw ovaError([a.label, `disk ${href} is a URL: not supported`]);
  const name = checkName(a.label, ovfDir === '.' ? href : `${ovfDir}/${href}`, 'file');
  const found = lookup(a, name);
  if (found) return found;
  const suffix = (n: string) => (n.startsWith(`${name}.`) && /^\d+$/.test(n.slice(name.length + 1)) ? BigInt(n.slice(name.length + 1)) : -1n);
  const snapshot = [...a.entries.keys()].filter((n) => suffix(n) >= 0n).sort((x, y) => (suffix(x) < suffix(y) ? 1 : -1))[0];
  if (snapshot) return lookup(a, snapshot)!;
  throw ovaError([a.label, name, 'the OVF names this disk but it is not in the OVA']);
}

async function sourceDisk(a: OvaArchive, ovfDir: string, d: OvfDisk, warn: (m: string) => void): Promise<SourceDisk> {
  const { name, file } = diskFile(a, ovfDir, d.href);
  const head = await readHead(a, name, file, 2);
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  if ((d.compressed || /\.gz$/i.test(name)) && !gzip) throw ovaError([a.label, name, 'declared gzip-compressed but is not']);
  const chosen = chooseFormat(d.format, await diskHead(a, name, file, gzip), `${a.label}: ${name}`);
  if (chosen.warning) warn(chosen.warning);
  const disk: SourceDisk =
    a.kind === 'tar'
      ? { location: file.path, tarRange: { offset: file.offset, size: file.size }, bus: d.bus }
      : { location: await checkedPath(a, name, file), bus: d.bus };
  // What the disk names besides itself must be inside the OVA (a gzip
  // member's is checked once decompressed, serve.ts).
  const checked = gzip ? { format: chosen.format } : await checkMember(a, name, file, chosen.format);
  if (checked.format) disk.format = checked.format;
  if (checked.image) disk.image = checked.image;
  // virt-v2v never checks the OVF's capacity: one that differs is a warning
  // (step.ts), and the disk is copied at its own size.
  if (d.capacity !== undefined) disk.statedCapacity = { bytes: d.capacity, where: `${a.label}: ${name}` };
  if (gzip) disk.compressed = 'gzip';
  return disk;
}

/** virt-v2v names a guest without ovf:Name after the OVA, extension removed. */
function nameFromFile(file: string): string {
  const base = path.basename(path.resolve(file));
  return path.basename(base, path.extname(base)) || base;
}

/**
 * Read the OVA (or unpacked OVA directory) `file`: its guest description,
 * disks located and checked against the manifests. Rejects with an
 * InputError whose one-line message starts with `file` (and the member it
 * concerns), or an AbortError if `opts.signal` fires.
 */
export async function readOva(file: string, opts: ReadOvaOptions = {}): Promise<SourceGuest> {
  const { signal } = opts;
  const warn = opts.warn ?? (() => {});
  throwIfAborted(signal);
  const a = await openOva(file, opts);
  const ovfName = theOvf(a);
  const ovf = lookup(a, ovfName)!;
  const label = `${a.label}: ${ovf.name}`;
  const guest = parseOvf(decodeOvf(await readSmallFile(a, ovf.name, ovf.file, MAX_OVF_SIZE), label), label);
  const ovfDir = path.posix.dirname(ovf.name);
  const disks: SourceDisk[] = [];
  for (const d of guest.disks) {
    throwIfAborted(signal);
    disks.push(await sourceDisk(a, ovfDir, d, warn));
  }
  for (const mf of [...a.entries.keys()].filter((n) => /\.mf$/i.test(n))) await verifyManifest(a, mf, signal, warn);
  return {
    // virt-v2v's OVA source: VMware's, with no genid, features, display or sound.
    hypervisor: 'vmware',
    ...(guest.cpuTopology ? { cpuTopology: guest.cpuTopology } : {}),
    name: guest.name ?? nameFromFile(file),
    memory: guest.memory,
    vcpus: guest.vcpus,
    firmware: guest.firmware,
    disks,
    removables: guest.removables,
    nics: guest.nics,
    ...(guest.osHint !== undefined ? { osHint: guest.osHint } : {}),
  };
}
