// Stale work dirs: what a job leaves when its process dies without cleaning
// up (kill -9, the OOM killer, a power cut of the parent): servers that do
// not die with their parent (qemu-nbd; nbdkit as a daemon), a full-size
// partial disk, the dir. A work dir under PARENT is stale only when all of
// these hold:
// - a directory named v2v-*, not a symbolic link, owned by this user, mode 0700;
// - marked as a work dir (.v2v-workdir, a regular file);
// - its job record (job.json, src/workdir/job-record.ts) names a process
//   owner, and that pid does not run with the same start time any more.
// A dir without a record, or handed to a supervisor (`v2v input`), is never
// stale: `v2v cleanup DIR` removes those. Undoing a stale job is the
// cleanup step's (src/steps/cleanup/stale-jobs.ts).
import { lstat, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WORKDIR_MARKER, isOwnPrivateDir } from './workdir.js';
import { ownerAlive, readJobRecord, type JobRecord } from './job-record.js';

export interface StaleJob {
  dir: string;
  record: JobRecord;
}

/** The default parent of work dirs: $TMPDIR (os.tmpdir()). */
export const defaultParent = (): string => path.resolve(os.tmpdir());

/** DIR as a stale job, checked now (the conditions above), or undefined. */
export async function staleAt(dir: string): Promise<StaleJob | undefined> {
  if (!isOwnPrivateDir(dir)) return undefined;
  try {
    if (!(await lstat(path.join(dir, WORKDIR_MARKER))).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const record = await readJobRecord(dir);
  if (!record || record.owner !== 'process' || ownerAlive(record)) return undefined;
  return { dir, record };
}

/** The stale work dirs of dead jobs under PARENT (default $TMPDIR). An unreadable parent has none. */
export async function findStaleJobs(parent: string = defaultParent()): Promise<StaleJob[]> {
  const abs = path.resolve(parent);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch {
    return [];
  }
  const found = await Promise.all(names.filter((n) => n.startsWith('v2v-')).map((n) => staleAt(path.join(abs, n))));
  return found.filter((j): j is StaleJob => j !== undefined).sort((a, b) => a.dir.localeCompare(b.dir));
}

/** `v2v: warning: ...` text for the stale dirs under PARENT, or undefined if none. */
export async function staleWarning(parent: string = defaultParent()): Promise<string | undefined> {
  const n = (await findStaleJobs(parent)).length;
  if (n === 0) return undefined;
  const what = n === 1 ? '1 stale work dir of a dead job' : `${n} stale work dirs of dead jobs`;
  return `${what} under ${path.resolve(parent)}: run 'v2v cleanup --stale'`;
}
