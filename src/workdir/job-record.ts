// The job record: DIR/job.json says which process owns a work dir, so that
// what a job leaves when its process dies (kill -9, the OOM killer) can be
// told from what a live job is using, and undone later (`v2v cleanup
// --stale`, src/workdir/stale.ts). The dir already records the rest: its
// servers by their pidfiles (DIR/*.pid), its partial outputs in output.json.
//
// A process is known by its pid and its start time (/proc/PID/stat field 22,
// clock ticks after boot), so a recycled pid is not taken for the job; the
// boot id and host name make a record from before a reboot dead, and one
// from another host (a shared TMPDIR) not ours to judge.
//
// Owners:
// - `process`: the dir lives and dies with process `pid` (a `v2v` job,
//   engine.convert, a batch's guests; `v2v input` until it has handed the
//   dir over). Stale once that process is gone.
// - `supervisor`: `v2v input` (engine.steps.input) has returned the dir to
//   its caller, whose servers outlive it on purpose until `v2v cleanup DIR`.
//   Never stale: no process owns it that we could see die.
//
// The main thread also keeps, for each dir it recorded, a last-resort
// action (src/util/last-resort.ts): a second signal kills the recorded
// servers with SIGKILL and removes the partial outputs, the private log dir
// and the work dir synchronously before the process exits.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as z from 'zod';
import { processStat, sameProcess } from '../process/proc-stat.js';
import { recordedServer } from '../process/server-record.js';
import { readOutputStateSync, type OutputStateFile } from '../steps/output/state-file.js';
import { atLastResort } from '../util/last-resort.js';
import { redactArgv } from '../util/redact.js';
import { WORKDIR_MARKER, commitUnfinished, isOwnPrivateDir, writeJson, type WorkDir } from './workdir.js';

export const JOB_RECORD = 'job.json';

export const JobRecord = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-job'),
  owner: z.enum(['process', 'supervisor']).describe('who the dir belongs to (see above)'),
  pid: z.number().int().min(1).describe('the process that made the dir'),
  start: z.string().regex(/^\d+$/).describe('its start time: /proc/PID/stat field 22'),
  boot: z.string().optional().describe('/proc/sys/kernel/random/boot_id when it was recorded'),
  host: z.string().describe('os.hostname()'),
  argv: z.array(z.string()).describe("the process's command line"),
  cwd: z.string().describe('its working directory (relative paths in argv)'),
  created: z.string().describe('ISO time'),
  logDir: z.string().optional().describe("the job's private log dir (v2v-log-*), removed with it"),
  keepDir: z.boolean().optional().describe("the dir is the user's (--workdir): emptied, not removed"),
});
export type JobRecord = z.infer<typeof JobRecord>;

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that owns the record still runs: the same pid with the
 * same start time, this boot. A record from another host, or a system
 * without /proc, cannot be judged: taken as alive.
 */
export function ownerAlive(r: JobRecord): boolean {
  if (r.host !== os.hostname() || !existsSync('/proc/self/stat')) return true;
  const boot = bootId();
  if (r.boot !== undefined && boot !== undefined && r.boot !== boot) return false;
  return sameProcess(r.pid, r.start);
}

/** Read DIR/job.json (not through a symbolic link), or undefined if absent or not a record. */
export async function readJobRecord(dir: string): Promise<JobRecord | undefined> {
  const file = path.join(dir, JOB_RECORD);
  try {
    if (!lstatSync(file).isFile()) return undefined;
    const r = JobRecord.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Last-resort actions of the dirs this thread recorded, by dir. */
const lastResorts = new Map<string, () => void>();

export interface RecordOptions {
  /** The job's private log dir (not the user's --log-dir): it goes with the job. */
  logDir?: string | undefined;
  /** The dir is the user's own (`v2v input --workdir DIR` on an empty dir): empty it, never remove it. */
  keepDir?: boolean | undefined;
}

/**
 * Record in W that this process owns it (DIR/job.json), and register its
 * last-resort removal. Call right after the dir is made. On a system without
 * /proc nothing is recorded (the dir is then never taken for stale).
 */
export async function recordJob(w: WorkDir, o: RecordOptions = {}): Promise<void> {
  const self = processStat(process.pid);
  if (!self) return;
  const boot = bootId();
  const record: JobRecord = {
    version: 1,
    kind: 'v2v-job',
    owner: 'process',
    pid: process.pid,
    start: self.start,
    ...(boot ? { boot } : {}),
    host: os.hostname(),
    // Never a LUKS passphrase (--key ID:key:KEY) in a file.
    argv: redactArgv(process.argv),
    cwd: process.cwd(),
    created: new Date().toISOString(),
    ...(o.logDir ? { logDir: o.logDir } : {}),
    ...(o.keepDir ? { keepDir: true } : {}),
  };
  await writeJson(path.join(w.path, JOB_RECORD), record);
  // Forget the dirs that have gone (jobs that ended): a service runs many.
  for (const [dir, forget] of lastResorts) {
    if (!existsSync(dir)) {
      forget();
      lastResorts.delete(dir);
    }
  }
  lastResorts.set(w.path, atLastResort(() => removeWorkDirNow(w.path, record)));
}

/**
 * `v2v input` has handed W to its caller: the record says so (never stale),
 * and a second signal to this process no longer removes it.
 */
export async function handOffJob(w: WorkDir): Promise<void> {
  const r = await readJobRecord(w.path);
  if (r) await writeJson(path.join(w.path, JOB_RECORD), { ...r, owner: 'supervisor' } satisfies JobRecord);
  lastResorts.get(w.path)?.();
  lastResorts.delete(w.path);
}

/** The pidfiles in DIR (DIR/in0.pid, DIR/out0.pid, DIR/in0.src.pid, ...). */
export function pidfilesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/**
 * The partial disks that DIR/output.json lists for an output set up but
 * not finalized, the record checked first (state-file.ts): only regular
 * files, never through a symbolic link; for -o libvirt, its pool. An
 * unreadable or foreign record names none.
 */
function unfinishedOutput(dir: string): { files: string[]; pool?: { connection?: string | undefined; name: string } } {
  let f: OutputStateFile | undefined;
  try {
    f = readOutputStateSync(dir);
  } catch {
    return { files: [] };
  }
  if (f?.state !== 'setup') return { files: [] };
  const files = f.disks
    .map((d) => d.partial)
    .filter((p) => {
      try {
        return lstatSync(p).isFile();
      } catch {
        return false;
      }
    });
  return { files, ...(f.libvirt ? { pool: { connection: f.options.connection, name: f.libvirt.pool } } : {}) };
}

export const partialOutputs = (dir: string): string[] => unfinishedOutput(dir).files;

/**
 * Remove the partial disks of DIR's unfinished output (partialOutputs); an
 * -o libvirt pool is refreshed after, so libvirt forgets the volumes
 * (best effort, bounded: the process may be on its way out). Returns them.
 */
export function removePartialOutputsSync(dir: string): string[] {
  const { files, pool } = unfinishedOutput(dir);
  for (const p of files) rmSync(p, { force: true });
  if (files.length > 0 && pool) {
    const argv = [...(pool.connection !== undefined ? ['-c', pool.connection] : []), '-q', 'pool-refresh', '--', pool.name];
    spawnSync('virsh', argv, { stdio: 'ignore', timeout: 10_000, env: { ...process.env, LC_ALL: 'C' } });
  }
  return files;
}

/** The job's private log dir, if it still looks like one (v2v-log-*, ours, 0700). */
export function removeLogDirSync(logDir: string | undefined): void {
  if (logDir && path.basename(logDir).startsWith('v2v-log-') && isOwnPrivateDir(logDir)) rmSync(logDir, { recursive: true, force: true });
}

/** Remove (or, if the user's, empty) work dir DIR now. */
export function removeDirSync(dir: string, keepDir: boolean | undefined): void {
  if (!keepDir) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const e of readdirSync(dir)) rmSync(path.join(dir, e), { recursive: true, force: true });
}

/**
 * The last resort for a work dir of this process (a second signal): every
 * recorded server killed (SIGKILL), the partial outputs of an unfinished
 * output removed, then the private log dir and the dir itself. Synchronous:
 * the process exits right after.
 */
export function removeWorkDirNow(dir: string, record: Pick<JobRecord, 'logDir' | 'keepDir'>): void {
  if (!existsSync(path.join(dir, WORKDIR_MARKER))) return;
  for (const pidfile of pidfilesIn(dir)) {
    const pid = recordedServer(pidfile);
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already, or not ours to kill.
    }
  }
  removePartialOutputsSync(dir);
  // An in-place commit cut short: the dir (its overlays) and the logs stay for `v2v cleanup DIR`.
  if (commitUnfinished(dir)) return;
  removeLogDirSync(record.logDir);
  removeDirSync(dir, record.keepDir);
}
