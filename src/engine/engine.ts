// The engine that services embed: `createEngine()` gives convert (a whole
// job), copy (one disk), the steps one by one on a work dir, and close. The
// CLI is a client of the same object. Every job the engine runs is known to
// it, so close() cancels what still runs and waits until its servers, work
// dirs and threads are gone.
import { convertMany, type BatchHooks, type BatchResult } from '../batch/run.js';
import type { BatchPlanInput, Plan } from '../batch/plan.js';
import { copy as copyDisk, type CopyRequest } from '../copy/copy.js';
import type { CopyStats } from '../protocol/messages.js';
import { runJob, type JobHooks, type JobResult } from '../supervisor/pipeline.js';
import { parseJobOptions, type JobOptionsInput } from './options.js';
import { stepApi, type StepApi } from './step-api.js';
import { warmApi, type WarmApi } from '../warm/warm.js';

export interface Engine {
  /** Run a whole job (input, convert, output setup, copy, output finalize, cleanup). */
  convert(options: JobOptionsInput, hooks?: JobHooks): Promise<JobResult>;
  /** Run many guests at once under a batch's global limits (src/batch/, `v2v batch`). */
  convertMany(plan: BatchPlanInput | Plan, hooks?: BatchHooks): Promise<BatchResult>;
  /** Copy one disk between NBD endpoints, files and null: (as `v2v copy`). */
  copy(req: CopyRequest): Promise<CopyStats>;
  /** The steps one by one on a work dir, for supervisors of their own (as the step subcommands). */
  readonly steps: StepApi;
  /** Warm migration in rounds: begin, sync, cutover (as `v2v warm`; src/warm/). */
  readonly warm: WarmApi;
  /** Cancel every job still running and wait until each has cleaned up. */
  close(): Promise<void>;
}

export interface EngineOptions {
  /** Jobs' work dirs go under this dir (default $TMPDIR). */
  workParent?: string;
}

export function createEngine(engineOptions: EngineOptions = {}): Engine {
  const running = new Set<{ stop: AbortController; done: Promise<unknown> }>();
  let closed = false;

  /** Run FN under the engine's watch: it is cancelled by close(), and close() waits for it. */
  function track<T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new TypeError('engine: closed'));
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal?.reason);
    if (signal?.aborted) stop.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    const done = fn(stop.signal).finally(() => {
      signal?.removeEventListener('abort', onAbort);
      running.delete(entry);
    });
    const entry = { stop, done };
    running.add(entry);
    return done;
  }

  const steps = stepApi(track);
  const warm = warmApi(steps, track);
  return {
    convert(options, hooks = {}) {
      return track(hooks.signal, async (signal) => {
        const o = parseJobOptions({ ...(engineOptions.workParent ? { workParent: engineOptions.workParent } : {}), ...options });
        return runJob(o, { ...hooks, signal });
      });
    },
    convertMany(plan, hooks = {}) {
      return track(hooks.signal, (signal) =>
        convertMany(plan, { ...(engineOptions.workParent ? { workParent: engineOptions.workParent } : {}), warm, ...hooks, signal }),
      );
    },
    copy(req) {
      return track(req.signal, (signal) => copyDisk({ ...req, signal }));
    },
    steps,
    warm,
    async close() {
      closed = true;
      for (const r of running) r.stop.abort(new Error('engine closed'));
      await Promise.allSettled([...running].map((r) => r.done));
    },
  };
}
