// Byte ranges of a disk for a copy that reads and writes only part of it
// (warm migration's incremental rounds, committing an overlay into its
// disk). Pure: the schema, normalising a list, and its total. Where ranges
// come from (a JSON extent list, a dirty bitmap, an overlay's top layer) is
// src/copy/ranges.ts; the copier checks them against the source's size.
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { formatZodError } from '../util/zod.js';

export interface ByteRange {
  offset: number;
  length: number;
}

const BYTES = 'must be a whole number of bytes';
const Offset = z
  .number({ error: BYTES })
  .int({ error: BYTES })
  .min(0, { error: 'must be >= 0' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'must be below 2^53' });

/** One range as given: whole bytes, offset >= 0, length > 0, ending within 2^53. */
export const ByteRangeInput = z
  .strictObject({
    offset: Offset,
    length: Offset.min(1, { error: 'must be > 0' }),
  })
  .refine((r) => r.offset + r.length <= Number.MAX_SAFE_INTEGER, 'ends beyond 2^53 bytes');

/** A list as given: any order, may overlap or touch (normaliseRanges merges it). */
export const ByteRangesInput = z.array(ByteRangeInput);

/**
 * A normalised list, as it crosses into the copy worker: sorted by offset,
 * neither overlapping nor touching, every end within 2^53.
 */
export const ByteRanges = ByteRangesInput.superRefine((list, ctx) => {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.offset <= list[i - 1]!.offset + list[i - 1]!.length) {
      ctx.addIssue({ code: 'custom', path: [i], message: 'not sorted and merged (normaliseRanges)' });
    }
  }
});

/**
 * Validate a list of ranges and return it sorted by offset, with ranges that
 * overlap or touch merged into one. Throws a one-line ConfigError naming
 * `what` (the list's origin) and the first bad entry.
 */
export function normaliseRanges(input: unknown, what = 'ranges'): ByteRange[] {
  const parsed = ByteRangesInput.safeParse(input);
  if (!parsed.success) throw new ConfigError(`${what}: ${formatZodError(parsed.error)}`);
  return mergeRanges(parsed.data);
}

/** Sort and merge valid ranges (see normaliseRanges). */
export function mergeRanges(list: readonly ByteRange[]): ByteRange[] {
  const sorted = list.map((r) => ({ offset: r.offset, length: r.length })).sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const end = r.offset + r.length;
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.offset + last.length, end) - last.offset;
    else out.push(r);
  }
  return out;
}

/** The bytes a normalised list covers. */
export function rangesTotal(list: readonly ByteRange[]): number {
  return list.reduce((n, r) => n + r.length, 0);
}
