// What a batch tells the outside world: every job event of every guest with
// the guest's id added ({ guest: "g1", type: "copy.progress", ... }), and
// the batch's own events: guests starting, finishing or failing, and slots
// waited for and granted (the scheduler's global view as it changes).
import * as z from 'zod';
import { JobEvent } from '../protocol/events.js';
import { GuestId } from './plan.js';

const Slot = z.enum(['convert', 'copy']);

/** How one guest ended (convertMany's result, and the batch.finished event). */
export const GuestResult = z.strictObject({
  id: GuestId,
  ok: z.boolean(),
  error: z.string().optional().describe('one line, as `v2v` prints it'),
  cancelled: z.boolean().optional(),
  logDir: z.string().optional().describe('its logs, when kept'),
  seconds: z.number().describe('from its start (when its turn came) to its end'),
  bytes: z.number().describe('bytes written to its disks: data plus zeroes (holes skipped on a zero target are not counted); 0 if it failed'),
  files: z.array(z.string()).describe('the files written: disks, then the metadata file'),
});
export type GuestResult = z.infer<typeof GuestResult>;

/** A job's events, each with its guest's id. */
const guestJobEvents = JobEvent.options.map((o) => o.extend({ guest: GuestId }));

export const BatchEvent = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('batch.started'),
    guests: z.number().int(),
    limits: z.strictObject({
      conversions: z.number().int(),
      copies: z.number().int(),
      copiesPerHost: z.number().int().optional(),
      bandwidth: z.number().optional(),
      guests: z.number().int(),
    }),
  }),
  z.strictObject({ type: z.literal('guest.started'), guest: GuestId, elapsed: z.number() }),
  z.strictObject({
    type: z.literal('guest.finished'),
    guest: GuestId,
    seconds: z.number(),
    bytes: z.number().describe('bytes written: data plus zeroes, summed over its disks'),
    files: z.array(z.string()),
  }),
  z.strictObject({
    type: z.literal('guest.failed'),
    guest: GuestId,
    seconds: z.number(),
    error: z.string().describe('one line, as `v2v` prints it'),
    cancelled: z.boolean(),
    log: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('slot.waiting'),
    guest: GuestId,
    slot: Slot,
    disk: z.string().optional(),
    host: z.string().optional(),
    holders: z.array(z.string()).describe('the guests holding that kind of slot now'),
  }),
  z.strictObject({
    type: z.literal('slot.granted'),
    guest: GuestId,
    slot: Slot,
    disk: z.string().optional(),
    host: z.string().optional(),
    rateLimit: z.number().optional().describe('bytes/s for this copy: its share of the bandwidth'),
    waited: z.number().describe('seconds spent waiting'),
  }),
  z.strictObject({
    type: z.literal('warm.round'),
    guest: GuestId,
    round: z.number().int().min(0),
    kind: z.enum(['begin', 'sync', 'cutover']),
    phase: z.enum(['started', 'finished']),
    seconds: z.number().optional(),
    bytesChanged: z.number().optional().describe('finished: bytes the round had to copy'),
    bytesRead: z.number().optional().describe('finished: bytes read from the source'),
  }),
  z.strictObject({ type: z.literal('warm.progress'), guest: GuestId, round: z.number().int(), disk: z.string(), done: z.number(), total: z.number() }),
  z.strictObject({
    type: z.literal('batch.finished'),
    seconds: z.number(),
    failed: z.array(GuestId),
    cancelled: z.boolean(),
    guests: z.array(GuestResult),
  }),
  ...(guestJobEvents as unknown as [(typeof guestJobEvents)[number], ...(typeof guestJobEvents)[number][]]),
]);
export type BatchEvent = z.infer<typeof BatchEvent>;
