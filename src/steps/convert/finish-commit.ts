// Finishing an in-place commit that was cut short (the process died, a
// second Ctrl-C, a failed write): `v2v cleanup DIR` and `cleanup --stale`
// call this before they remove a dir whose commit.json is not `committed`.
// The servers of the dead job are gone; each overlay is served again,
// read-only, on in<N> (an NBD disk's read-only front first, as the overlay's
// backing file names it), and the commit runs again from the start: it
// writes the same bytes, so a disk half-written before ends whole.
import type { Logger } from 'pino';
import { StateError } from '../../errors.js';
import { startNbdkit, type Server } from '../../process/server.js';
import { readCommitRecord } from '../../workdir/commit-record.js';
import { readMetadataIn, type WorkDir } from '../../workdir/workdir.js';
import { serveOverlayFile } from '../input/commit-overlay.js';
import { commitDisksOf, commitOverlays, type CommitResult } from './commit.js';
import path from 'node:path';

/** Finish W's unfinished commit, if it has one; returns what was committed. Servers this starts are stopped before it returns. */
export async function finishCommit(w: WorkDir, log: Logger): Promise<CommitResult[]> {
  const record = readCommitRecord(w.path);
  if (!record || record.state === 'committed') return [];
  const metadata = await readMetadataIn(w);
  const disks = commitDisksOf(metadata);
  const recorded = [...record.disks].sort().join(',');
  if (disks.map((d) => d.index).sort().join(',') !== recorded) {
    throw new StateError(`${w.path}: commit.json names disks ${recorded}, metadata.in's in-place disks differ: the overlays are kept, nothing is written`);
  }
  log.warn({ dir: w.path, disks: disks.map((d) => d.commit.target) }, 'in-place: finishing a commit that was cut short');
  const servers: Server[] = [];
  try {
    for (const d of disks) {
      if (/^nbd(\+unix)?:\/\//.test(d.commit.target)) {
        servers.push(await startNbdkit(['nbd', `uri=${d.commit.target}`], { dir: w.path, name: `in${d.index}.src`, readonly: true, log }));
      }
      servers.push(await serveOverlayFile(d.index, path.join(w.path, d.commit.overlay), { workdir: w, log, readonly: true }));
    }
    return await commitOverlays(w, metadata, log);
  } finally {
    for (const s of servers.reverse()) await s.stop();
  }
}
