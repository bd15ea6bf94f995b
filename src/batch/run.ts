// convertMany: every guest of a plan as its own job (runJob), all at once,
// queueing on the batch's slots (slots.ts) so that one guest's copy overlaps
// the next one's conversion. One event stream, each event with its guest's
// id; one log dir per guest (LOGDIR/ID/); a guest that fails does not stop
// the others; the signal (Ctrl-C) stops every guest, and each job cleans up
// after itself (servers, work dir, partial disks).
import { setMaxListeners } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeError, isAbortError, type EngineError } from '../errors.js';
import { runJob } from '../supervisor/pipeline.js';
import type { BatchEvent, GuestResult } from './events.js';
import { parsePlan, type BatchPlanInput, type Plan } from './plan.js';
import { BatchSlots } from './slots.js';
import { runWarmGuest } from './warm-guest.js';
import type { JobOptions } from '../engine/options.js';
import { stepApi } from '../engine/step-api.js';
import { warmApi, type WarmApi } from '../warm/warm.js';

/** A warm API of the batch's own, for convertMany called without an engine. */
function ownWarmApi(): WarmApi {
  const track = <T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>) => fn(signal ?? new AbortController().signal);
  return warmApi(stepApi(track), track);
}

export interface BatchHooks {
  signal?: AbortSignal;
  onEvent?: (e: BatchEvent) => void;
  /** Each guest logs to LOGDIR/ID/ (default: its own options' logDir, else a private dir kept on failure). */
  logDir?: string;
  /** Work dirs' parent for guests whose options name none (default: $TMPDIR). */
  workParent?: string;
  /** Runs the plan's warm rounds (the engine's; default: one of the batch's own). */
  warm?: WarmApi;
}

export type { GuestResult };

export interface BatchResult {
  guests: GuestResult[];
  /** Ids of the guests that failed (or were cancelled), in plan order. */
  failed: string[];
  cancelled: boolean;
  seconds: number;
}

/** Run every guest of PLAN (validated again here) at once under its limits. */
export async function convertMany(input: BatchPlanInput | Plan, hooks: BatchHooks = {}): Promise<BatchResult> {
  const plan = parsePlan(input);
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const emit = (e: BatchEvent) => hooks.onEvent?.(e);
  // One signal for every guest: each job and waiter listens to it.
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort(hooks.signal?.reason);
  if (hooks.signal?.aborted) stop.abort(hooks.signal.reason);
  else hooks.signal?.addEventListener('abort', onAbort, { once: true });
  const slots = new BatchSlots(plan.limits, emit);
  /** A guest's options with the batch's log dir and work dirs' parent. */
  const withDirs = (options: JobOptions, logDir: string | undefined): JobOptions => ({
    ...options,
    ...(logDir !== undefined ? { logDir } : {}),
    ...(options.workParent === undefined && hooks.workParent !== undefined ? { workParent: hooks.workParent } : {}),
  });
  emit({ type: 'batch.started', guests: plan.guests.length, limits: plan.limits });

  let ownWarm: WarmApi | undefined;
  const warm = () => hooks.warm ?? (ownWarm ??= ownWarmApi());
  const runGuest = async ({ id, options, warm: warmEntry }: Plan['guests'][number]): Promise<GuestResult> => {
    // A guest's time runs from its start (after its turn came), not from the batch's.
    let started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    const logDir = hooks.logDir !== undefined ? path.join(hooks.logDir, id) : options?.logDir;
    let release: (() => void) | undefined;
    let result: GuestResult;
    try {
      release = await slots.guest(id, stop.signal);
      started = Date.now();
      emit({ type: 'guest.started', guest: id, elapsed: elapsed() });
      if (logDir !== undefined) await mkdir(logDir, { recursive: true, mode: 0o700 });
      if (warmEntry !== undefined) {
        const w = await runWarmGuest(warm(), warmEntry, options && withDirs(options, logDir), { id, signal: stop.signal, emit, slots: slots.forGuest(id) });
        result = { id, ok: true, seconds: seconds(), bytes: w.bytes, files: w.files };
        emit({ type: 'guest.finished', guest: id, seconds: result.seconds, bytes: w.bytes, files: w.files });
        return result;
      }
      const r = await runJob(
        withDirs(options!, logDir),
        { signal: stop.signal, onEvent: (e) => emit({ ...e, guest: id }), slots: slots.forGuest(id) },
      );
      const bytes = r.copies.reduce((n, c) => n + c.stats.bytesData + c.stats.bytesZeroed, 0);
      result = { id, ok: true, seconds: seconds(), bytes, files: r.files, ...(r.logDir ? { logDir: r.logDir } : {}) };
      emit({ type: 'guest.finished', guest: id, seconds: result.seconds, bytes, files: r.files });
    } catch (err) {
      const cancelled = isAbortError(err) || stop.signal.aborted;
      const log = (err as Partial<EngineError>)?.log;
      const error = cancelled ? 'cancelled' : describeError(err, { log: false });
      const keptLogs = logDir ?? (log ? path.dirname(log) : undefined);
      result = { id, ok: false, error, cancelled, seconds: seconds(), bytes: 0, files: [], ...(keptLogs !== undefined && !cancelled ? { logDir: keptLogs } : {}) };
      emit({ type: 'guest.failed', guest: id, seconds: result.seconds, error, cancelled, ...(log ? { log } : {}) });
    } finally {
      release?.();
    }
    slots.ended(id, result.ok);
    // What became of it, next to its logs (a guest refused before its job
    // started has nothing else there).
    if (hooks.logDir !== undefined && !result.cancelled) {
      await writeFile(path.join(logDir!, 'result.json'), `${JSON.stringify(result, null, 2)}\n`).catch(() => {});
    }
    return result;
  };

  try {
    const guests = await Promise.all(plan.guests.map(runGuest));
    const failed = guests.filter((g) => !g.ok).map((g) => g.id);
    const cancelled = stop.signal.aborted;
    emit({ type: 'batch.finished', seconds: elapsed(), failed, cancelled, guests });
    return { guests, failed, cancelled, seconds: elapsed() };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
}
