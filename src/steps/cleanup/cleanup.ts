// Cleanup of a work dir by what it records, not by what a process
// remembers: every server with a pidfile in it stopped, the libguestfs
// socket dirs of killed conversions removed, an in-place commit cut short
// finished, an output set up but not finalized undone (its partial disks,
// named in output.json, removed), the job's private log dir and the dir
// removed (a dir that is the user's own is emptied). The one undoing of a
// dir's records: `v2v cleanup DIR`, `v2v cleanup --stale` on each dead
// job's dir (stale-jobs.ts) and, after a failure, the job itself as the
// last word after its actors (one of which may have been terminated before
// it could undo its part).
import type { Logger } from 'pino';
import { silentLogger } from '../../log/config.js';
import { stopByPidfile } from '../../process/server-record.js';
import { commitUnfinished, type WorkDir } from '../../workdir/workdir.js';
import { pidfilesIn, readJobRecord, removeDirSync, removeLogDirSync, removePartialOutputsSync } from '../../workdir/job-record.js';
import { outputAbort, resumeOutput } from '../output/output.js';
import { readOutputState } from '../output/state-file.js';
import { finishCommit } from '../convert/finish-commit.js';
import { removeRecordedSocketDirs } from '../convert/sockdir.js';

/**
 * Undo what W records: its servers stopped (SIGTERM, SIGKILL after 2 s),
 * its unfinished commit finished (and WARN told), its unfinished output
 * removed (partial disks only: names reserved by setup), its private log
 * dir and W removed. A record that names anything setup would not have made, or a
 * commit that cannot be finished, is an error and W stays.
 */
export async function cleanupWorkDir(w: WorkDir, log: Logger = silentLogger(), warn: (message: string) => void = () => {}): Promise<void> {
  // A record that names anything setup would not have made is refused
  // before anything is done (state-file.ts): the dir has been tampered with.
  const state = await readOutputState(w);
  const job = await readJobRecord(w.path);
  await Promise.all(pidfilesIn(w.path).map((p) => stopByPidfile(p, 2000)));
  // A conversion killed with the job leaves libguestfs's socket dir in /tmp.
  await removeRecordedSocketDirs(w.path, log);
  // An in-place commit cut short is finished before anything goes (its
  // overlays hold the converted data); if it cannot be, the dir stays.
  if (commitUnfinished(w.path)) {
    const done = await finishCommit(w, log);
    // Worth saying: the disks were half-converted until now.
    if (done.length > 0) warn(`${w.path}: an in-place commit had been cut short: finished it from the overlays (${done.map((d) => d.target).join(', ')})`);
  }
  if (state?.state === 'setup') {
    const { setup, options } = await resumeOutput(w);
    await outputAbort(options, setup, log);
  }
  removeLogDirSync(job?.logDir);
  if (job?.keepDir) removeDirSync(w.path, true);
  else await w.remove();
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
