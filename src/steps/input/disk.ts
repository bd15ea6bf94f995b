// One source disk (checked by disk-check.ts) put behind its copy-on-write
// overlay on the work dir's in<N> socket (virt-v2v 2.2's input_disk.ml: nbdkit's cow filter
// for raw, qemu-nbd -s for the rest), for every input type; `-i disk`'s
// guest (virt-v2v's defaults for a bare disk); metadata.in. Conversion
// writes into the overlays; the source files are never written.
import path from 'node:path';
import type { Logger } from 'pino';
import { EngineError, InputError, ProcessError } from '../../errors.js';
import { MetadataIn, METADATA_VERSION, type DiskIn, type RemovableIn } from '../../metadata/schema.js';
import { sourceInfoFields, type SourceInfo } from '../../metadata/source-info.js';
import { startNbdkit, startQemuNbd, type Server } from '../../process/server.js';
import { formatZodError } from '../../util/zod.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import type { SourceGuest } from './source.js';
import { failer, tag, type CheckedDisk } from './disk-check.js';
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

/** virt-v2v: the guest is named after the first disk, extension removed. */
export function defaultGuestName(file: string): string {
  const base = path.basename(file);
  return path.basename(base, path.extname(base)) || base;
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
