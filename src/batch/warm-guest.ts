// Warm guests in a batch: a plan entry with `warm: { state, round }` runs one
// round of warm migration (src/warm/) for that guest instead of a whole
// conversion, on the same engine API as `v2v warm` (engine.warm):
//   begin   with "args" or "options" (the guest's virt-v2v options), as
//           `v2v warm begin --state FILE ...`;
//   sync    with "changed" (one JSON extent file per disk) or "bitmap", as
//           `v2v warm sync --state FILE ...`;
//   cutover the same changes, then the in-place conversion and finalize.
// A batch can hold many guests' rounds at once: a supervisor syncs all of
// them every hour, then cuts some over. A cutover converts, so it takes a
// conversion slot of the batch (as a conversion does); a round's copies are
// small and do not queue for copy slots. Its events are the batch's
// warm.round and warm.progress, with the guest's id.
import * as z from 'zod';
import type { JobOptions } from '../engine/options.js';
import type { JobSlots } from '../supervisor/pipeline.js';
import type { WarmApi, WarmEvents } from '../warm/warm.js';
import type { BatchEvent } from './events.js';

export const WarmEntry = z
  .strictObject({
    state: z.string().min(1).describe('the warm state file (as v2v warm --state FILE)'),
    round: z.enum(['begin', 'sync', 'cutover']).describe('which round to run'),
    changed: z.array(z.string().min(1)).min(1).optional().describe('sync, cutover: one JSON extent list per disk, in disk order (--changed)'),
    bitmap: z.string().min(1).optional().describe('sync, cutover: the NBD dirty bitmap the source exports (--bitmap)'),
  })
  .superRefine((w, ctx) => {
    const given = (w.changed !== undefined ? 1 : 0) + (w.bitmap !== undefined ? 1 : 0);
    if (w.round === 'begin' && given > 0) ctx.addIssue({ code: 'custom', message: 'begin copies everything: no "changed" or "bitmap"', path: [] });
    if (w.round !== 'begin' && given !== 1) ctx.addIssue({ code: 'custom', message: `${w.round}: give "changed" (one file per disk) or "bitmap"`, path: [] });
  })
  .describe('one round of warm migration for this guest (src/batch/warm-guest.ts)');
export type WarmEntry = z.infer<typeof WarmEntry>;

export interface WarmGuestContext {
  id: string;
  signal: AbortSignal;
  emit: (e: BatchEvent) => void;
  slots: JobSlots;
}

/** Run ENTRY's round for guest CTX.id; what it wrote (cutover: the output's files) and the bytes it copied. */
export async function runWarmGuest(api: WarmApi, entry: WarmEntry, options: JobOptions | undefined, ctx: WarmGuestContext): Promise<{ bytes: number; files: string[] }> {
  const { id: guest, emit } = ctx;
  const events: WarmEvents = {
    signal: ctx.signal,
    onRound: (e) =>
      emit(
        e.phase === 'started'
          ? { type: 'warm.round', guest, round: e.round, kind: e.kind, phase: 'started' }
          : { type: 'warm.round', guest, round: e.n, kind: e.kind, phase: 'finished', seconds: e.seconds, bytesChanged: e.bytesChanged, bytesRead: e.bytesRead },
      ),
    onProgress: (e) => emit({ type: 'warm.progress', guest, ...e }),
    onWarning: (message) => emit({ type: 'warning', guest, message }),
  };
  const changes = entry.bitmap !== undefined ? ({ kind: 'bitmap', name: entry.bitmap } as const) : ({ kind: 'changed', files: entry.changed ?? [] } as const);
  if (entry.round === 'begin') {
    const s = await api.begin(entry.state, options!, events);
    return { bytes: s.rounds.at(-1)?.bytesChanged ?? 0, files: [] };
  }
  if (entry.round === 'sync') {
    const s = await api.sync(entry.state, changes, events);
    return { bytes: s.rounds.at(-1)?.bytesChanged ?? 0, files: [] };
  }
  const release = await ctx.slots.convert(ctx.signal);
  try {
    const s = await api.cutover(entry.state, changes, events);
    return { bytes: s.rounds.at(-1)?.bytesChanged ?? 0, files: s.files ?? [] };
  } finally {
    release();
  }
}
