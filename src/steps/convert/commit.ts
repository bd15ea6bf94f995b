// The commit of an in-place conversion (issue 11): once virt-v2v-in-place
// has succeeded, what it wrote into each disk's overlay (DIR/in<N>.overlay.
// qcow2, served on in<N> with qemu:allocation-depth) is copied into the disk
// by our copier, only the overlay's own extents (rangesFromTopLayer). Each
// overlay is checked first: it must be a qcow2 whose backing file is the
// disk metadata.in names, so a tampered record cannot make us write
// elsewhere. commit.json says `committing` from before the first write to
// after the last flush (src/workdir/commit-record.ts): a commit cut short
// keeps the work dir, and running this again finishes it.
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { copy } from '../../copy/copy.js';
import { rangesFromTopLayer } from '../../copy/ranges.js';
import { StateError } from '../../errors.js';
import type { MetadataIn } from '../../metadata/schema.js';
import { nbdUnixUri, startNbdkit, startQemuNbd, type Server } from '../../process/server.js';
import type { CopyStats } from '../../protocol/messages.js';
import { diskName } from '../../util/drive-name.js';
import { writeCommitRecord } from '../../workdir/commit-record.js';
import type { WorkDir } from '../../workdir/workdir.js';
import { qemuImgInfo } from '../input/qemu-img.js';

type CommitDisk = MetadataIn['disks'][number] & { commit: NonNullable<MetadataIn['disks'][number]['commit']> };

export const commitDisksOf = (m: MetadataIn): CommitDisk[] => m.disks.filter((d): d is CommitDisk => d.commit !== undefined);

/** The overlay of D is ours: a qcow2 file in W whose backing file is D's target (or, for an NBD disk, our front of it). */
async function checkOverlay(w: WorkDir, d: CommitDisk): Promise<string> {
  const overlay = path.join(w.path, d.commit.overlay);
  const where = `in-place commit: disk ${diskName(d.index)}`;
  const st = await lstat(overlay).catch(() => undefined);
  if (!st?.isFile()) throw new StateError(`${where}: its overlay ${overlay} is missing or not a file`);
  const info = await qemuImgInfo(overlay, { format: 'qcow2' });
  const front = nbdUnixUri(`${w.inSocket(d.index)}.src.sock`);
  const remote = /^nbd(\+unix)?:\/\//.test(d.commit.target);
  if (info.backingFilename !== (remote ? front : d.commit.target)) {
    throw new StateError(`${where}: its overlay's backing file is ${info.backingFilename ?? 'none'}, not the disk ${d.commit.target}: refusing to write`);
  }
  if (!remote) {
    const t = await lstat(d.commit.target).catch(() => undefined);
    if (!t || !(t.isFile() || t.isBlockDevice() || t.isSymbolicLink())) throw new StateError(`${where}: the disk ${d.commit.target} is gone`);
  }
  return overlay;
}

/** Serve disk D itself, writable, for the commit (an NBD disk is written where it is). */
async function serveTarget(w: WorkDir, d: CommitDisk, log: Logger): Promise<{ uri: string; server?: Server }> {
  const { target, format } = d.commit;
  if (/^nbd(\+unix)?:\/\//.test(target)) return { uri: target };
  const opts = { dir: w.path, name: `commit${d.index}`, log };
  if (format === 'raw') {
    const server = await startNbdkit(['file', `file=${target}`, 'cache=none'], opts);
    return { uri: server.uri, server };
  }
  // The overlay's server holds the disk open as its backing file, which
  // qemu's image locking would refuse to open for writing alongside: this
  // writer skips the lock. Nothing else writes the disk meanwhile (the
  // reader's lock kept a VM from starting on it), and the reader reads only
  // what the overlay holds, never these clusters of the disk.
  const driver = (await lstat(target)).isBlockDevice() ? 'host_device' : 'file';
  const spec = [`driver=${format}`, `file.driver=${driver}`, `file.filename=${target.replaceAll(',', ',,')}`, 'file.locking=off'].join(',');
  const server = await startQemuNbd(spec, { ...opts, imageOpts: true });
  return { uri: server.uri, server };
}

export interface CommitResult {
  disk: string;
  /** The disk written: its file, or its NBD URI. */
  target: string;
  /** Bytes the overlay held, written into the disk. */
  bytes: number;
  stats: CopyStats;
}

/**
 * Commit every in-place disk of M from its overlay on in<N> (served by the
 * input step, or by finishCommit). Not cancellable: a commit stopped
 * half-way leaves a disk half converted, so once begun it runs to the end.
 */
export async function commitOverlays(w: WorkDir, m: MetadataIn, log: Logger): Promise<CommitResult[]> {
  const disks = commitDisksOf(m);
  if (disks.length === 0) return [];
  for (const d of disks) await checkOverlay(w, d);
  await writeCommitRecord(w, 'committing', disks.map((d) => d.index));
  log.info({ disks: disks.map((d) => d.commit.target) }, 'in-place: commit started');
  const results = await Promise.all(
    disks.map(async (d): Promise<CommitResult> => {
      const disk = diskName(d.index);
      const source = nbdUnixUri(w.inSocket(d.index));
      const ranges = await rangesFromTopLayer(source);
      const bytes = ranges.reduce((n, r) => n + r.length, 0);
      const t = await serveTarget(w, d, log);
      try {
        const stats = await copy({ source, target: t.uri, ranges, disk, jobId: `commit-${disk}` });
        log.info({ disk, target: d.commit.target, bytes, stats }, 'in-place: disk committed');
        return { disk, target: d.commit.target, bytes, stats };
      } finally {
        await t.server?.stop();
      }
    }),
  );
  await writeCommitRecord(w, 'committed', disks.map((d) => d.index));
  log.info('in-place: commit done');
  return results;
}
