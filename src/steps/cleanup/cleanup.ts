// Cleanup of a work dir by what it records, not by what a process
// remembers: every server with a pidfile in it stopped, the libguestfs
// socket dirs of killed conversions removed, an output set up but
// not finalized undone (its partial disks, named in output.json, removed),
// the dir removed. Used by `v2v cleanup DIR` and, after a failure, by the
// job itself as the last word after its actors (one of which may have been
// terminated before it could undo its part).
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { silentLogger } from '../../log/config.js';
import { stopByPidfile } from '../../process/server-record.js';
import { commitUnfinished, type WorkDir } from '../../workdir/workdir.js';
import { removePartialOutputsSync } from '../../workdir/job-record.js';
import { outputAbort, resumeOutput } from '../output/output.js';
import { readOutputState } from '../output/state-file.js';
import { finishCommit } from '../convert/finish-commit.js';
import { removeRecordedSocketDirs } from '../convert/sockdir.js';

/**
 * Stop every server of the work dir, remove an output that was set up but
 * not finalized (partial disks only: names reserved by setup), remove DIR.
 */
export async function cleanupWorkDir(w: WorkDir, log?: Logger): Promise<void> {
  // A record that names anything setup would not have made is refused
  // before anything is done (state-file.ts): the dir has been tampered with.
  const state = await readOutputState(w);
  const pidfiles = (await readdir(w.path)).filter((f) => f.endsWith('.pid')).map((f) => path.join(w.path, f));
  await Promise.all(pidfiles.map((p) => stopByPidfile(p, 2000)));
  // A conversion killed with the job leaves libguestfs's socket dir in /tmp.
  await removeRecordedSocketDirs(w.path, log ?? silentLogger());
  // An in-place commit cut short is finished before anything goes (its
  // overlays hold the converted data); if it cannot be, the dir stays.
  if (commitUnfinished(w.path)) await finishCommit(w, log ?? silentLogger());
  if (state?.state === 'setup') {
    const { setup, options } = await resumeOutput(w);
    await outputAbort(options, setup, log ?? silentLogger());
  }
  await w.remove();
}


/**
 * The job's last word after a failure, once its actors have ended: the
 * partial disks that output.json lists for an unfinished setup are removed
 * (their names were reserved by this job with O_EXCL, so they are ours).
 * Servers are not touched here: the actors stopped theirs, or took them
 * along when their thread ended.
 */
export async function removeUnfinishedOutput(w: WorkDir, log: Logger): Promise<void> {
  for (const file of removePartialOutputsSync(w.path)) log.debug({ file }, 'removed (left by the output actor)');
}
