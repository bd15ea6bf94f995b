// `v2v cleanup --stale`: the work dirs of dead jobs under PARENT (found and
// judged by src/workdir/stale.ts) undone one by one by the cleanup step,
// from their records, as `v2v cleanup DIR` would: servers stopped, the
// libguestfs socket dirs of killed conversions removed, an in-place commit
// cut short finished from its overlays (never its overlays removed first),
// partial outputs removed, the private log dir and the dir removed. Each
// dir is judged stale again just before, and undone under its lock. A dir
// that cannot be undone (a record that names what setup would not have
// made, a commit that cannot be finished) stays; the others go on.
import { describeError } from '../../errors.js';
import { defaultParent, findStaleJobs, staleAt, type StaleJob } from '../../workdir/stale.js';

export interface StaleCleanup {
  /** The dirs undone and removed (or, the user's own, emptied). */
  cleaned: StaleJob[];
  /** The dirs that stay, each with why. */
  kept: { dir: string; reason: string }[];
}

/**
 * Undo every stale job under PARENT (default $TMPDIR) with CLEANUP, the
 * one cleanup of a dir from its records (the step API's `cleanup`: the
 * cleanup step under the dir's lock).
 */
export async function cleanupStaleJobs(
  parent: string = defaultParent(),
  signal: AbortSignal,
  cleanup: (dir: string) => Promise<void>,
): Promise<StaleCleanup> {
  const r: StaleCleanup = { cleaned: [], kept: [] };
  for (const job of await findStaleJobs(parent)) {
    signal.throwIfAborted();
    const again = await staleAt(job.dir);
    if (!again) continue;
    try {
      await cleanup(job.dir);
      r.cleaned.push(again);
    } catch (err) {
      r.kept.push({ dir: job.dir, reason: describeError(err) });
    }
  }
  return r;
}
