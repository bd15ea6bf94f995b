// The warm migration's state file (`v2v warm ... --state FILE`, issue 11):
// all that a round needs, so that each round may run in a new process, days
// apart. Versioned (zod); written atomically (a temp file renamed over it),
// mode 0600; a round that crashed left the file as it was before the round,
// so running it again is the recovery.
//
// The job's options are the ones `warm begin` was given (parsed again and
// checked each round). The targets live in a warm work dir (`dir`, ours,
// private, kept between rounds): its output.json names the partial target
// disks that the rounds fill and cutover renames; each round checks the dir
// (owner, mode, marker) and output.json (names inside -os only) before it
// writes a byte.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { ConfigError, StateError } from '../errors.js';
import { JobOptions } from '../engine/options.js';
import { formatZodError } from '../util/zod.js';

export const WarmRound = z.strictObject({
  n: z.number().int().min(0),
  kind: z.enum(['begin', 'sync', 'cutover']),
  started: z.string(),
  finished: z.string(),
  seconds: z.number().min(0),
  /** Bytes the round had to copy (the changed ranges; begin: the disks' sizes). */
  bytesChanged: z.number().int().min(0),
  /** Bytes read from the source (the copier's statistics). */
  bytesRead: z.number().int().min(0),
});
export type WarmRound = z.infer<typeof WarmRound>;

export const WarmState = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-warm'),
  /** synced: begin or a sync finished; done: cutover finished (nothing more to do). */
  state: z.enum(['synced', 'done']),
  options: JobOptions,
  /** The warm work dir: metadata.in of the source, output.json of the targets. */
  dir: z.string().min(1),
  /** Guest name (-on, else the source's). */
  name: z.string().min(1),
  disks: z.array(z.strictObject({ index: z.number().int().min(0), size: z.number().int().min(0) })).min(1),
  rounds: z.array(WarmRound),
  /** cutover: the work dir of the in-place conversion of the targets, while it runs (cutover.ts). */
  convertDir: z.string().min(1).optional(),
  /** cutover: the files written. */
  files: z.array(z.string()).optional(),
});
export type WarmState = z.infer<typeof WarmState>;

export async function readWarmState(file: string): Promise<WarmState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--state ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (run v2v warm begin first)' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`--state ${file}: not JSON`);
  }
  const r = WarmState.safeParse(json);
  if (!r.success) throw new ConfigError(`--state ${file}: not a warm migration state (version 1): ${formatZodError(r.error)}`);
  return r.data;
}

/** Write FILE atomically, mode 0600. */
export async function writeWarmState(file: string, s: WarmState): Promise<void> {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.v2v-tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(WarmState.parse(s), null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, abs);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new StateError(`--state ${file}: cannot write it: ${(err as Error).message}`);
  }
}

/** A state file that already exists is not overwritten by begin. */
export async function checkNewState(file: string): Promise<void> {
  try {
    await readFile(file);
  } catch {
    return;
  }
  throw new ConfigError(`--state ${file}: already exists (a warm migration under way?): choose another file, or remove it`);
}
