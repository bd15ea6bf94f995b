// A batch plan: many guests converted at once under global limits (`v2v
// batch PLAN`, engine.convertMany). One zod schema, documented key by key;
// every guest is either a virt-v2v command line (`args`, through
// optionsFromArgs exactly as `v2v` takes it) or the job's options object.
// Every refusal is one ConfigError line naming the guest and what is wrong.
import os from 'node:os';
import * as z from 'zod';
import { optionsFromArgs } from '../engine/from-args.js';
import { JobOptions, parseJobOptions } from '../engine/options.js';
import { ConfigError } from '../errors.js';
import { WarmEntry } from './warm-guest.js';

/** A guest's id names its log dir (LOGDIR/ID/): safe as one path component. */
export const GuestId = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, ".", "_" or "-" (it names the guest\'s log dir)')
  .refine((id) => id !== '.' && id !== '..', 'must not be "." or ".."');

export const GuestEntry = z
  .strictObject({
    id: GuestId.describe('the guest\'s name in events, the summary and its log dir (LOGDIR/ID/)'),
    args: z
      .array(z.string())
      .min(1, 'must not be empty')
      .optional()
      .describe('virt-v2v\'s command line as words: ["-i", "disk", "a.img", "-o", "local", "-os", "/out"]'),
    options: JobOptions.optional().describe('or the job\'s options as engine.convert() takes them (src/engine/options.ts)'),
    warm: WarmEntry.optional().describe('a round of warm migration instead of a conversion (begin takes "args" or "options"; sync and cutover neither)'),
  })
  .superRefine((g, ctx) => {
    const given = (g.args !== undefined ? 1 : 0) + (g.options !== undefined ? 1 : 0);
    if (g.warm !== undefined && g.warm.round !== 'begin') {
      if (given > 0) ctx.addIssue({ code: 'custom', message: `warm ${g.warm.round}: the state file holds the options: no "args" or "options"`, path: [] });
    } else if (given !== 1) ctx.addIssue({ code: 'custom', message: 'give either "args" or "options"', path: [] });
  });

/** One appliance (virt-v2v-in-place) keeps about one core busy and takes about 1 GiB. */
export function defaultConversions(cores = os.availableParallelism(), freeBytes = os.freemem()): number {
  return Math.max(1, Math.min(cores, Math.floor(freeBytes / 2 ** 30)));
}

/**
 * Disk copies in flight: two per core. A copy from a local disk keeps about
 * one core busy (its servers and the copier); a copy from a remote datastore
 * mostly waits on the network and the remote host. Two per core keeps remote
 * links busy while local copies contend for the CPU at most two to a core;
 * each copy's memory is bounded (4 MiB of buffers by default).
 */
export function defaultCopies(cores = os.availableParallelism()): number {
  return 2 * cores;
}

export const Limits = z
  .strictObject({
    conversions: z.number().int().min(1).optional().describe('conversions at once (default: min(cores, free GiB), at least 1)'),
    copies: z.number().int().min(1).optional().describe('disk copies in flight, all guests together (default: 2 per core)'),
    copiesPerHost: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('disk copies in flight per source host: the URI\'s host for nbd, http(s) and ssh sources, "local" for files (default: no per-host limit)'),
    bandwidth: z.number().positive().optional().describe('bytes/s read from the sources, all copies together, shared among the copies in flight when each starts (default: no limit)'),
    guests: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('guests in progress at once: sources opened, waiting for or holding slots (default: conversions + copies)'),
  })
  .describe('the batch\'s global limits');

export const BatchPlan = z
  .strictObject({
    guests: z.array(GuestEntry).min(1, 'no guests').describe('the guests, started in this order'),
    limits: Limits.default({}).describe('the batch\'s global limits (each has a default)'),
  })
  .superRefine((p, ctx) => {
    const first = new Map<string, number>();
    p.guests.forEach((g, i) => {
      const j = first.get(g.id);
      if (j === undefined) first.set(g.id, i);
      else ctx.addIssue({ code: 'custom', message: `id used twice (guests ${j + 1} and ${i + 1})`, path: ['guests', i, 'id'] });
    });
  })
  .describe('a batch of guests to convert at once');
export type BatchPlanInput = z.input<typeof BatchPlan>;

export interface ResolvedLimits {
  conversions: number;
  copies: number;
  copiesPerHost?: number;
  bandwidth?: number;
  guests: number;
}

/** A validated plan: every guest's options parsed, every limit decided. */
export interface Plan {
  /** options: a conversion or warm begin; warm: the round (sync and cutover have no options). */
  guests: { id: string; options?: JobOptions; warm?: WarmEntry }[];
  limits: ResolvedLimits;
}

/** "guest g3", or for an entry with no usable id "guest 3" (its place). */
function guestLabel(raw: unknown, index: number): string {
  const id = (raw as { guests?: { id?: unknown }[] })?.guests?.[index]?.id;
  if (typeof id === 'string' && GuestId.safeParse(id).success) return `guest ${id}`;
  return typeof id === 'string' ? `guest ${index + 1} (${JSON.stringify(id)})` : `guest ${index + 1}`;
}

/** One line for zod's issues, the first guest's only, as parseJobOptions words them. */
function planIssue(err: z.ZodError, raw: unknown): string {
  const [first] = err.issues;
  if (!first) return 'invalid plan';
  if (first.path[0] !== 'guests' || typeof first.path[1] !== 'number') {
    const where = first.path.length ? `${first.path.join('.')}: ` : '';
    return `${where}${first.message}`;
  }
  const index = first.path[1];
  const mine = err.issues.filter((i) => i.path[0] === 'guests' && i.path[1] === index);
  const custom = mine.find((i) => i.code === 'custom' && i.path[2] === 'options');
  const text = custom
    ? custom.message
    : mine
        .map((i) => {
          const rest = i.path.slice(2);
          const got = 'input' in i && i.input !== undefined && typeof i.input !== 'object' ? `, got ${JSON.stringify(i.input)}` : '';
          return `${rest.length ? `${rest.join('.')}: ` : ''}${i.message}${got}`;
        })
        .join('; ');
  return `${guestLabel(raw, index)}: ${text}`;
}

/**
 * Validate a plan (an object as read from JSON or YAML, or a Plan again):
 * every guest's options, unique ids, the limits with their defaults. Throws
 * a ConfigError with one line: "plan: guest g3: -i disk: expecting a disk image (filename) on the command line".
 */
export function parsePlan(raw: unknown, opts: { name?: string } = {}): Plan {
  const label = opts.name ?? 'plan';
  const r = BatchPlan.safeParse(raw);
  if (!r.success) throw new ConfigError(`${label}: ${planIssue(r.error, raw)}`, { cause: r.error });
  const guests = r.data.guests.map((g) => {
    try {
      const options = g.args ? optionsFromArgs(g.args) : g.options !== undefined ? parseJobOptions(g.options) : undefined;
      return { id: g.id, ...(options ? { options } : {}), ...(g.warm ? { warm: g.warm } : {}) };
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new ConfigError(`${label}: guest ${g.id}: ${msg}`, { cause: err });
    }
  });
  const l = r.data.limits;
  const conversions = l.conversions ?? defaultConversions();
  const copies = l.copies ?? defaultCopies();
  return {
    guests,
    limits: {
      conversions,
      copies,
      ...(l.copiesPerHost !== undefined ? { copiesPerHost: l.copiesPerHost } : {}),
      ...(l.bandwidth !== undefined ? { bandwidth: l.bandwidth } : {}),
      guests: l.guests ?? conversions + copies,
    },
  };
}
