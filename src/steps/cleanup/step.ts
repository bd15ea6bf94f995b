// The cleanup step (seed step 6) on the one step contract: always the last
// word. In a job, after its actors have released or undone what they held,
// whatever an actor could not undo (it was terminated) is undone from the
// work dir's records, and the work dir goes. `v2v cleanup DIR` (another
// process) does the same from the records alone, servers included.
import type { Step } from '../step.js';
import { cleanupWorkDir, removeUnfinishedOutput } from './cleanup.js';

export interface CleanupStepIn {
  /** The job succeeded: nothing of its output is undone. */
  ok: boolean;
  /**
   * Only the records: servers are found by their pidfiles (the step
   * subcommand, or a job whose process died). Otherwise the actors stopped
   * theirs.
   */
  fromRecords: boolean;
}

export const cleanupStep: Step<CleanupStepIn, void> = {
  name: 'cleanup',
  async run(ctx, { ok, fromRecords }) {
    if (fromRecords) return cleanupWorkDir(ctx.workdir, ctx.log, (m) => ctx.warn(m));
    if (!ok) await removeUnfinishedOutput(ctx.workdir, ctx.log).catch((err: unknown) => ctx.log.warn({ err }, 'cleanup from the work dir failed'));
    await ctx.workdir.remove();
  },
};
