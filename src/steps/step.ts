// The one step contract (the seed's steps: input, convert, output setup,
// copy, output finalize, cleanup). Each step is one module under
// src/steps/<step>/ exposing a Step object; the supervisor's pipeline
// (src/supervisor/pipeline.ts), the step actors (src/workers/step-worker.ts),
// the step subcommands and the library's step API (src/engine/step-api.ts)
// all drive these same objects, so no step's logic exists twice.
import type { Logger } from 'pino';
import * as z from 'zod';
import type { WorkDir } from '../workdir/workdir.js';

export const StepName = z.enum(['input', 'convert', 'output-setup', 'copy', 'output-finalize', 'cleanup']);
export type StepName = z.infer<typeof StepName>;

/** What every step gets from whoever drives it. */
export interface StepContext {
  /** The job's private work dir: the seed's temp-dir contract. */
  readonly workdir: WorkDir;
  /** The actor's child logger: every line names the step and the disk. */
  readonly log: Logger;
  /** Cancel: the step stops and undoes what it started, then rejects with an AbortError. */
  readonly signal: AbortSignal;
  /** Something the user should hear about (virt-v2v's own warnings). */
  warn(message: string): void;
  /**
   * The servers the step starts outlive this process (the step
   * subcommands): known by their pidfiles in the work dir, stopped by
   * `v2v cleanup`. Otherwise they are tied to the thread that started them.
   */
  readonly detach: boolean;
}

/**
 * A step: `run` does it and returns what the next steps need. A step that
 * holds something after `run` (servers serving an overlay or a target)
 * lets it go in `release` at the job's normal end, and in `undo` after a
 * failure or cancel (also when `run` itself failed half-way: `output` is
 * then undefined). Neither of those throws.
 */
export interface Step<I, O> {
  readonly name: StepName;
  run(ctx: StepContext, input: I): Promise<O>;
  release?(ctx: StepContext, output: O): Promise<void>;
  undo?(ctx: StepContext, output: O | undefined): Promise<void>;
}

/** A StepContext with a new logger (the same work dir, signal and warnings). */
export function withLog(ctx: StepContext, log: Logger): StepContext {
  return { ...ctx, log };
}
