// One source disk checked and put behind its copy-on-write overlay on the
// work dir's in<N> socket (virt-v2v 2.2's input_disk.ml: nbdkit's cow filter
// for raw, qemu-nbd -s for the rest), for every input type; `-i disk`'s
// guest (virt-v2v's defaults for a bare disk); metadata.in. Conversion
// writes into the overlays; the source files are never written.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AbortError, EngineError, InputError, ProcessError, isAbortError } from '../../errors.js';
import { MetadataIn, METADATA_VERSION, type DiskIn, type RemovableIn } from '../../metadata/schema.js';
import { sourceInfoFields, type SourceInfo } from '../../metadata/source-info.js';
import { startNbdkit, startQemuNbd, type Server } from '../../process/server.js';
import { errnoText } from '../../util/errno.js';
import { formatZodError } from '../../util/zod.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import type { SourceGuest } from './source.js';
import { qemuImgInfo } from './qemu-img.js';
import { commitTargetOf, serveCommitOverlay, type CommitTarget } from './commit-overlay.js';

interface ServeOptions {
  workdir: WorkDir;
  log: Logger;
  signal?: AbortSignal | undefined;
  /** Overlays outlive this process (`v2v input`); see StartOptions.detach. */
  detach?: boolean;
  /** In-place conversion: a kept overlay, committed into the disk on success (commit-overlay.ts). */
  inPlace?: boolean;
}

const GiB = 1024 * 1024 * 1024;



function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('input: cancelled');
}

function tag<E extends EngineError>(err: E, disk: string): E {
  err.step = 'input';
  err.disk = disk;
  return err;
}

/** virt-v2v: the guest is named after the first disk, extension removed. */
export function defaultGuestName(file: string): string {
  const base = path.basename(file);
  return path.basename(base, path.extname(base)) || base;
}

export interface CheckedDisk {
  /** Served through qemu (a json: spec) rather than as a plain file. */
  qemuSpec?: boolean;
  /** `source` is the NBD URI of our read-only front for a remote disk. */
  remote?: boolean;
  index: number;
  given: string;
  source: string;
  format: string;
  size: number;
}

type CheckOptions = {
  /** -if, or what the source's metadata says; probed with qemu-img when absent. */
  format?: string;
  signal?: AbortSignal | undefined;
  /** The disk is these bytes of the file (a member of an uncompressed OVA tar). */
  tarRange?: { offset: number; size: number };
  /** The size the source's metadata declares: the disk must have it. */
  capacity?: number;
  /** A remote disk, already behind our read-only nbdkit at this NBD URI. */
  nbdUri?: string;
  /** How messages name the disk (default: `given`). */
  label?: string;
  /** A `json:` spec that names every file of the disk (an OVA member's checked chain): opened as it is. */
  image?: string;
};

async function checkRemote(
  index: number,
  given: string,
  uri: string,
  opts: CheckOptions,
  fail: (why: string, cause?: unknown) => InputError,
): Promise<CheckedDisk> {
  let info;
  try {
    info = await qemuImgInfo(uri, { ...(opts.format ? { format: opts.format } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw fail(`qemu-img info: ${(err as Error).message}`, err);
  }
  if (opts.capacity !== undefined && opts.capacity !== info.virtualSize) {
    throw fail(`its metadata declares ${opts.capacity} bytes but the disk has ${info.virtualSize} bytes`);
  }
  return { index, given, source: uri, format: info.format, size: info.virtualSize, remote: true };
}

/**
 * qemu's view of bytes OFFSET..OFFSET+SIZE of FILE, opened as FORMAT (or
 * probed): read in place, nothing extracted. qemu's raw driver wants the
 * range in whole sectors; a tar member is padded to 512 bytes, so rounding
 * the size up stays inside the archive.
 */
export function tarMemberSpec(file: string, range: { offset: number; size: number }, format?: string): string {
  // "backing": null: qemu follows no backing file the member's header may
  // name (the input plan found none, ova/chain.ts; or built the member's
  // whole chain into DiskSource.image).
  return `json:${JSON.stringify({ ...(format ? { driver: format } : {}), file: tarMemberNode(file, range), backing: null })}`;
}

/** The qemu node of a tar member's bytes (raw, at its offset and size). */
export function tarMemberNode(file: string, range: { offset: number; size: number }): Record<string, unknown> {
  return { driver: 'raw', offset: range.offset, size: Math.ceil(range.size / 512) * 512, file: { driver: 'file', filename: file } };
}

/**
 * A `json:` spec for qemu-img info, which opens no backing file and
 * refuses one given: the top level only, its backing set to null.
 */
function infoSpec(image: string): string {
  const top = JSON.parse(image.slice('json:'.length)) as Record<string, unknown>;
  return `json:${JSON.stringify({ ...top, backing: null })}`;
}

/** The one-line error of disk INDEX: "input: disk LABEL: why". */
export const failer = (index: number, label: string) => (why: string, cause?: unknown) =>
  tag(new InputError(`input: disk ${label}: ${why}`, cause === undefined ? undefined : { cause }), `in${index}`);

/** A local disk file exists, is a regular file or block device, and is readable: the input plan checks every disk so before any server starts. */
export async function checkLocalFile(index: number, given: string, label = given): Promise<string> {
  const fail = failer(index, label);
  const source = path.resolve(given);
  let st;
  try {
    st = await stat(source);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  if (st.isDirectory()) throw fail('Is a directory');
  if (!st.isFile() && !st.isBlockDevice()) throw fail('not a regular file or block device');
  try {
    await access(source, constants.R_OK);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  return source;
}

/** One disk, before anything is started: exists, readable, its format and size (qemu-img info). */
export async function checkDisk(index: number, given: string, opts: CheckOptions): Promise<CheckedDisk> {
  const fail = failer(index, opts.label ?? given);
  if (opts.nbdUri) return checkRemote(index, given, opts.nbdUri, opts, fail);
  const source = await checkLocalFile(index, given, opts.label ?? given);
  throwIfAborted(opts.signal);
  let checked: CheckedDisk;
  try {
    // Without -if qemu-img probes the format, as virt-v2v does: a raw
    // guest disk whose first sector looks like a qcow2 header would be
    // opened as qcow2. -if raw avoids that.
    const spec = opts.image ?? (opts.tarRange ? tarMemberSpec(source, opts.tarRange, opts.format) : undefined);
    const info = await qemuImgInfo(spec ? infoSpec(spec) : source, {
      ...(opts.format && !spec ? { format: opts.format } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    checked = { index, given, source: spec ?? source, format: info.format, size: info.virtualSize, ...(spec ? { qemuSpec: true } : {}) };
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw fail(`qemu-img info: ${(err as Error).message}`, err);
  }
  if (opts.capacity !== undefined && opts.capacity !== checked.size) {
    throw fail(`its metadata declares ${opts.capacity} bytes but the disk has ${checked.size} bytes`);
  }
  return checked;
}

function startOverlay(d: CheckedDisk, opts: ServeOptions): Promise<Server> {
  const common = {
    dir: opts.workdir.path,
    name: `in${d.index}`,
    socket: opts.workdir.inSocket(d.index),
    log: opts.log,
    // Both servers keep overlay data under $TMPDIR: our private dir, so it
    // is removed with it and never lands in a shared /var/tmp.
    env: { TMPDIR: opts.workdir.path },
    detach: opts.detach === true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  if (d.qemuSpec) return startQemuNbd(d.source, { ...common, snapshot: true });
  if (d.remote) {
    return d.format === 'raw'
      ? startNbdkit(['--filter=cow', 'nbd', `uri=${d.source}`], { ...common, threads: 16 })
      : startQemuNbd(d.source, { ...common, format: d.format, snapshot: true });
  }
  if (d.format === 'raw') {
    // The cow filter opens the plugin read-only and keeps every write in
    // its overlay; cache=none keeps the source out of the page cache.
    return startNbdkit(['--filter=cow', 'file', `file=${d.source}`, 'cache=none'], { ...common, threads: 16 });
  }
  // -s: qemu's snapshot, writes go to a temporary qcow2 over the source.
  return startQemuNbd(d.source, { ...common, format: d.format, snapshot: true });
}

/** Serve a checked disk through its overlay on in<index>; the DiskIn for metadata.in. */
export async function serveDisk(d: CheckedDisk, opts: ServeOptions): Promise<{ server: Server; disk: DiskIn }> {
  const { log, signal } = opts;
  let server: Server;
  let commit: CommitTarget | undefined;
  try {
    if (opts.inPlace) {
      if (d.qemuSpec) throw failer(d.index, d.given)('--in-place: this disk is part of an archive and cannot be converted in place');
      commit = await commitTargetOf(d.index, d.given, d.source, d.format, d.remote === true);
      server = await serveCommitOverlay(d.index, d.source, d.format, opts);
    } else {
      server = await startOverlay(d, opts);
    }
  } catch (err) {
    if ((err as EngineError).code === 'PROCESS_ERROR' && !signal?.aborted) {
      // Often the disk's fault (locked by a running VM, unreadable
      // qcow2 internals); name it, keep the server's own words.
      (err as ProcessError).message = `input: disk ${d.given}: ${(err as ProcessError).message.replace(/\n+/g, '; ')}`;
      throw tag(err as ProcessError, `in${d.index}`);
    }
    throw err;
  }
  log.info(
    { disk: `in${d.index}`, source: d.source, format: d.format, size: d.size, pid: server.pid, command: server.command },
    `input: disk ${d.source} (${d.format}, ${d.size} bytes) on in${d.index}: ${server.command.join(' ')}`,
  );
  // metadata.in names where the data comes from, not our view of it.
  const source = d.qemuSpec || d.remote ? d.given : d.source;
  return { server, disk: { index: d.index, socket: `in${d.index}`, source, format: d.format, size: d.size, bus: 'unknown', ...(commit ? { commit } : {}) } };
}

/** What metadata.in says about the guest besides its disks. */
export type GuestFields = Pick<MetadataIn, 'name' | 'input' | 'memory' | 'vcpus' | 'firmware' | 'nics'> &
  Partial<Pick<MetadataIn, 'removables'>> &
  SourceInfo;

/** The SourceInfo fields of a guest, the absent ones left out. */
export function sourceInfoOf(g: SourceGuest): SourceInfo {
  const keys = Object.keys(sourceInfoFields) as (keyof SourceInfo)[];
  return Object.fromEntries(keys.filter((k) => g[k] !== undefined).map((k) => [k, g[k]])) as SourceInfo;
}

/** metadata.in's removables: kind, bus and slot (where a medium is, is not said). */
export function removablesOf(g: SourceGuest): RemovableIn[] {
  return g.removables.map((r) => ({ kind: r.kind, ...(r.bus !== 'unknown' ? { bus: r.bus } : {}), ...(r.slot !== undefined ? { slot: r.slot } : {}) }));
}

/** `-i disk`: virt-v2v's defaults for a bare disk (2 GiB, 1 vCPU, one NIC on "default"), named after the first disk. */
export function diskGuest(files: string[], format?: string): SourceGuest {
  return {
    name: defaultGuestName(files[0] ?? 'guest'),
    memory: 2 * GiB,
    vcpus: 1,
    firmware: 'unknown',
    // virt-v2v's -i disk source (input_disk.ml).
    hypervisor: 'unknownhv',
    features: ['acpi', 'apic', 'pae'],
    display: { type: 'window', password: false },
    disks: files.map((location) => ({ location, ...(format ? { format } : {}), bus: 'unknown' as const })),
    removables: [],
    nics: [{ vnet: 'default', vnetType: 'network' }],
  };
}

/** Validate and write metadata.in. */
export async function writeMetadataIn(workdir: WorkDir, guest: GuestFields, disks: DiskIn[]): Promise<MetadataIn> {
  if (guest.name.trim() === '') throw tag(new InputError('input: the guest name is empty'), 'in0');
  const parsed = MetadataIn.safeParse({ version: METADATA_VERSION, kind: 'v2v-metadata-in', ...guest, disks });
  if (!parsed.success) throw new InputError(`input: metadata.in: ${formatZodError(parsed.error)}`);
  await writeJson(workdir.metadataIn, parsed.data);
  return parsed.data;
}
