// DIR/lock: one step at a time on a work dir (issue 9 §5). `v2v convert`,
// `v2v output setup|finalize` and `v2v cleanup` hold it while they run; a
// `v2v copy` into the dir's output takes it just long enough to record that
// it copies (copy-record.ts), so finalize cannot start between a copy's
// check and its record. The lock is a file made with O_EXCL holding its
// owner's pid and start time: a lock whose owner is gone (kill -9) is taken
// over, never one whose owner runs. A dir whose job record names a running
// job (`v2v` or engine.convert on its own dir) is that job's: refused too.
import { readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { StateError } from '../errors.js';
import { processStat, sameProcess } from '../process/proc-stat.js';
import { ownerAlive, readJobRecord } from './job-record.js';
import type { WorkDir } from './workdir.js';

class BusyError extends StateError {}

const LockFile = z.strictObject({
  pid: z.number().int().min(1),
  start: z.string().regex(/^\d+$/),
  /** What holds it: "output finalize", "copy of disk 0", ... */
  what: z.string(),
});
type LockFile = z.infer<typeof LockFile>;

export const lockPath = (w: WorkDir) => path.join(w.path, 'lock');

function holder(file: string): LockFile | undefined {
  try {
    const r = LockFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

// Callers in this process queue for a dir (a job's disks record their
// copies one after the other); only other processes are refused.
const queues = new Map<string, Promise<unknown>>();

/**
 * Take W's lock for WHAT, or refuse with one line naming its holder; with
 * `waitMs`, wait that long for a live holder first (copies of other disks
 * record theirs at the same moment). Returns the release.
 */
export async function lockWorkDir(w: WorkDir, what: string, waitMs = 0): Promise<() => Promise<void>> {
  const before = queues.get(w.path) ?? Promise.resolve();
  let free!: () => void;
  const mine = new Promise<void>((r) => (free = r));
  const queued = before.then(() => mine);
  queues.set(w.path, queued);
  await before.catch(() => {});
  try {
    const deadline = Date.now() + waitMs;
    let release: (() => Promise<void>) | undefined;
    while (!release) {
      try {
        release = await takeLock(w, what);
      } catch (err) {
        if (!(err instanceof BusyError) || Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    return async () => {
      await release();
      free();
      if (queues.get(w.path) === queued) queues.delete(w.path);
    };
  } catch (err) {
    free();
    if (queues.get(w.path) === queued) queues.delete(w.path);
    throw err;
  }
}

async function takeLock(w: WorkDir, what: string): Promise<() => Promise<void>> {
  const record = await readJobRecord(w.path);
  if (record?.owner === 'process' && record.pid !== process.pid && ownerAlive(record)) {
    throw new StateError(`work dir ${w.path} belongs to a running job (pid ${record.pid}): ${what} refused`);
  }
  const file = lockPath(w);
  const self = processStat(process.pid);
  const mine: LockFile = { pid: process.pid, start: self?.start ?? '0', what };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(mine)}\n`);
      } finally {
        await fh.close();
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        // Only our own lock: a dir removed meanwhile (cleanup) has none.
        if (holder(file)?.pid === process.pid) await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const h = holder(file);
    // A lock being written this instant reads empty: wait for it once.
    if (h === undefined && attempt === 0) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    if (h && sameProcess(h.pid, h.start)) {
      throw new BusyError(`work dir ${w.path} is busy: ${h.what} (pid ${h.pid}) is running there; ${what} refused`);
    }
    // Its owner is gone (or the file is not a lock of ours): take it over.
    await rm(file, { force: true });
  }
  throw new StateError(`work dir ${w.path}: cannot take its lock for ${what}`);
}

/** Run FN holding W's lock for WHAT (waiting up to waitMs for it). */
export async function withWorkDirLock<T>(w: WorkDir, what: string, fn: () => Promise<T>, waitMs = 0): Promise<T> {
  const release = await lockWorkDir(w, what, waitMs);
  try {
    return await fn();
  } finally {
    await release();
  }
}
