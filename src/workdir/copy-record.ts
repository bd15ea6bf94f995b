// DIR/copy<N>.json: the copy of disk N into an output set up in work dir
// DIR, recorded so that output finalize renames only complete disks (issue 9
// §5). The copy step of a job and a `v2v copy SOURCE TARGET` between a work
// dir's sockets (the pairs `v2v output setup` prints) both record it: first
// `running` with the copier's pid and start time, then `done` or `failed`.
// Finalize refuses unless every disk's copy is `done`; a `running` record
// whose process is gone is a copy that died half-way.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { StateError } from '../errors.js';
import { processStat, sameProcess } from '../process/proc-stat.js';
import { readOutputStateSync } from '../steps/output/state-file.js';
import { diskName } from '../util/drive-name.js';
import { withWorkDirLock } from './lock.js';
import { WORKDIR_MARKER, existingWorkDir, writeJson, type WorkDir } from './workdir.js';
import type { Endpoint } from '../copy/endpoint.js';

const CopyRecord = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-copy'),
  index: z.number().int().min(0),
  state: z.enum(['running', 'done', 'failed']),
  pid: z.number().int().min(1),
  start: z.string(),
  updated: z.string(),
});
type CopyRecord = z.infer<typeof CopyRecord>;

export const copyRecordPath = (dir: string, index: number) => path.join(dir, `copy${index}.json`);

function readCopyRecord(dir: string, index: number): CopyRecord | undefined {
  try {
    const r = CopyRecord.safeParse(JSON.parse(readFileSync(copyRecordPath(dir, index), 'utf8')));
    return r.success && r.data.index === index ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface CopyInProgress {
  done(): Promise<void>;
  failed(): Promise<void>;
}

/**
 * Record that this process copies disk INDEX into W's output: under W's
 * lock, only while the output is set up and not finalized, and not while
 * another copy of that disk runs.
 */
export async function startCopyRecord(w: WorkDir, index: number): Promise<CopyInProgress> {
  const disk = diskName(index);
  const self = { pid: process.pid, start: processStat(process.pid)?.start ?? '0' };
  const write = (state: CopyRecord['state']) =>
    writeJson(copyRecordPath(w.path, index), { version: 1, kind: 'v2v-copy', index, state, ...self, updated: new Date().toISOString() } satisfies CopyRecord);
  await withWorkDirLock(w, `the copy of disk ${disk}`, async () => {
    const f = readOutputStateSync(w.path);
    if (!f) throw new StateError(`copy: ${w.path}: output setup has not run there`);
    if (f.state !== 'setup') throw new StateError(`copy: ${w.path}: the output is finalized already: disk ${disk} must not change now`);
    if (!f.targets.some((t) => t.index === index)) throw new StateError(`copy: ${w.path}: output setup made no disk ${disk}`);
    const r = readCopyRecord(w.path, index);
    if (r?.state === 'running' && r.pid !== process.pid && sameProcess(r.pid, r.start)) {
      throw new StateError(`copy: disk ${disk} of ${w.path} is being copied already (pid ${r.pid})`);
    }
    await write('running');
  }, 30_000);
  return { done: () => write('done'), failed: () => write('failed') };
}

/**
 * Why output finalize must not run now: a disk of INDICES whose copy is not
 * recorded as done (not copied, running, failed, or died half-way); or
 * undefined when all are complete.
 */
export function copiesIncomplete(dir: string, indices: number[]): string | undefined {
  const problems: string[] = [];
  for (const index of indices) {
    const r = readCopyRecord(dir, index);
    const disk = diskName(index);
    if (!r) problems.push(`disk ${disk} has not been copied`);
    else if (r.state === 'failed') problems.push(`the copy of disk ${disk} failed`);
    else if (r.state === 'running') {
      problems.push(sameProcess(r.pid, r.start) ? `disk ${disk} is still being copied (pid ${r.pid})` : `the copy of disk ${disk} did not finish (its process ${r.pid} died)`);
    }
  }
  return problems.length ? problems.join('; ') : undefined;
}

/** Throw when the copies of INDICES into W's output are not all done. */
export function checkCopiesComplete(w: WorkDir, indices: number[]): void {
  const why = copiesIncomplete(w.path, indices);
  if (why) throw new StateError(`output finalize: ${why}: the output is left as set up (copy each disk, then finalize again)`);
}

/** The Unix socket an nbd+unix:// endpoint names, if any. */
function socketOf(e: Endpoint): string | undefined {
  if (e.kind !== 'nbd-uri' || !e.uri.startsWith('nbd+unix:')) return undefined;
  try {
    const s = new URL(e.uri).searchParams.get('socket');
    return s ? path.resolve(s) : undefined;
  } catch {
    return undefined;
  }
}

/** The work dir DIR and disk N of a socket DIR/<prefix>N, if DIR is a work dir. */
async function workDirSocket(socket: string | undefined, prefix: 'in' | 'out'): Promise<{ w: WorkDir; index: number } | undefined> {
  const m = socket ? new RegExp(`^${prefix}(\\d+)$`).exec(path.basename(socket)) : null;
  if (!socket || !m || !existsSync(path.join(path.dirname(socket), WORKDIR_MARKER))) return undefined;
  // Not this user's private dir: none of our records to write there.
  const w = await existingWorkDir(path.dirname(socket)).catch(() => undefined);
  return w ? { w, index: Number(m[1]) } : undefined;
}

/**
 * For `v2v copy SOURCE TARGET` with the pair `v2v output setup` printed:
 * record the copy in that work dir (its target socket out<N>, or for
 * -o null its source socket in<N> and null:). Any other copy records
 * nothing and returns undefined.
 */
export async function recordCopyInto(source: Endpoint, target: Endpoint): Promise<CopyInProgress | undefined> {
  const into = target.kind === 'null' ? await workDirSocket(socketOf(source), 'in') : await workDirSocket(socketOf(target), 'out');
  if (!into) return undefined;
  if (target.kind === 'null' && readOutputStateSync(into.w.path)?.options.type !== 'null') return undefined;
  return startCopyRecord(into.w, into.index);
}
