// One incremental round of a warm migration (sync, and cutover's last
// sync): for each disk, the changed ranges are read from the source and
// written into the partial target disk in the warm dir, nothing else.
// Where the changes come from (issue 11):
//   --changed FILE (one per disk, in disk order): a JSON array of
//     {"offset", "length"} in bytes, as VMware's changed block tracking
//     gives them to a supervisor;
//   --bitmap NAME: the NBD dirty bitmap qemu:dirty-bitmap:NAME, which a
//     local qcow2 source exports through `qemu-nbd -r -B NAME` (started here)
//     and a remote NBD source (nbd://) must export itself (libvirt's
//     incremental backup, qemu's NBD server). The caller rotates bitmaps
//     between rounds, as libvirt's checkpoints do.
// Zero ranges become zero requests (the copier's block status). The
// targets are served again on the warm dir's out<N> sockets, where the
// copies are recorded (copy<N>.json) as in any output.
import type { Logger } from 'pino';
import type { Piscina } from 'piscina';
import { copy } from '../copy/copy.js';
import { rangesFromBitmap, rangesFromJsonFile, rangesTotal, type ByteRange } from '../copy/ranges.js';
import { ConfigError } from '../errors.js';
import type { MetadataIn } from '../metadata/schema.js';
import { startNbdkit, startQemuNbd, type Server } from '../process/server.js';
import { serveDisk } from '../steps/output/disks.js';
import type { OutputStateFile } from '../steps/output/state-file.js';
import { diskName } from '../util/drive-name.js';
import type { WorkDir } from '../workdir/workdir.js';

export type Changes = { kind: 'changed'; files: string[] } | { kind: 'bitmap'; name: string };

export interface DiskRound {
  disk: string;
  bytesChanged: number;
  bytesRead: number;
}

const isNbd = (s: string) => /^nbd(\+unix)?:\/\//.test(s);

/** Serve source disk D read-only for the round (with the bitmap, for --bitmap); an NBD source is read where it is. */
async function serveSourceDisk(w: WorkDir, d: MetadataIn['disks'][number], changes: Changes, log: Logger): Promise<{ uri: string; server?: Server }> {
  if (isNbd(d.source)) return { uri: d.source };
  const opts = { dir: w.path, name: `src${d.index}`, log };
  if (changes.kind === 'bitmap') {
    if (d.format !== 'qcow2') throw new ConfigError(`--bitmap ${changes.name}: disk ${d.source} is ${d.format}: only a qcow2 disk (or an NBD server) holds a dirty bitmap`);
    const server = await startQemuNbd(d.source, { ...opts, format: 'qcow2', readonly: true, bitmap: changes.name });
    return { uri: server.uri, server };
  }
  const server = d.format === 'raw' ? await startNbdkit(['file', `file=${d.source}`, 'cache=none'], { ...opts, readonly: true }) : await startQemuNbd(d.source, { ...opts, format: d.format, readonly: true });
  return { uri: server.uri, server };
}

/** The ranges of each disk, read before anything is served for writing: a bad --changed file fails the round first. */
export async function changedRangesFromFiles(changes: Changes, disks: number): Promise<ByteRange[][] | undefined> {
  if (changes.kind !== 'changed') return undefined;
  if (changes.files.length !== disks) {
    throw new ConfigError(`--changed: give one file per disk, in disk order: the guest has ${disks} disk${disks === 1 ? '' : 's'}, ${changes.files.length} given`);
  }
  return Promise.all(changes.files.map((f) => rangesFromJsonFile(f)));
}

/** Copy each disk's changes into its partial target (output.json of W). */
export async function copyChanges(
  w: WorkDir,
  meta: MetadataIn,
  out: OutputStateFile,
  changes: Changes,
  o: { log: Logger; signal: AbortSignal; pool: Piscina; onProgress?: (disk: string, done: number, total: number) => void },
): Promise<DiskRound[]> {
  const fromFiles = await changedRangesFromFiles(changes, meta.disks.length);
  const servers: Server[] = [];
  try {
    return await Promise.all(
      meta.disks.map(async (d, i): Promise<DiskRound> => {
        const disk = diskName(d.index);
        const target = out.disks.find((t) => t.index === d.index);
        if (!target) throw new ConfigError(`warm: the warm dir has no target for disk ${disk}`);
        const src = await serveSourceDisk(w, d, changes, o.log);
        if (src.server) servers.push(src.server);
        const ranges = fromFiles ? fromFiles[i]! : await rangesFromBitmap(src.uri, (changes as { name: string }).name);
        // Nothing changed on this disk: nothing to serve or copy.
        if (ranges.length === 0) return { disk, bytesChanged: 0, bytesRead: 0 };
        const t = await serveDisk(target.partial, out.options.format, d.index, w, o.log, o.signal);
        servers.push(t);
        const stats = await copy({
          source: src.uri,
          target: t.uri,
          ranges,
          disk,
          jobId: `warm-${disk}`,
          signal: o.signal,
          pool: o.pool,
          ...(o.onProgress ? { onProgress: (done: number, total: number) => o.onProgress!(disk, done, total) } : {}),
        });
        return { disk, bytesChanged: rangesTotal(ranges), bytesRead: stats.bytesRead };
      }),
    );
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}
