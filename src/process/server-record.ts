// Which process a pidfile in a work dir may be taken for. A pidfile is only
// a number: the server may have exited and its pid gone to another process,
// another nbdkit included, or the file may have been rewritten. So a server
// is stopped only when all of these hold (issue 9 §5):
// - the pid runs, and is nbdkit or qemu-nbd;
// - it was started with this very pidfile on its command line;
// - its server record (DIR/NAME.server.json, written by the starter as soon
//   as the pidfile appeared) names the same pid, its start time, and the
//   socket that is on its command line.
// A pidfile without a record (a starter that died in between) is judged by
// the first two alone: no other process can have been started with a path
// inside our private work dir.
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { writeJson } from '../workdir/workdir.js';
import { processArgs, processName, processStat, running, sameProcess } from './proc-stat.js';

const SERVER_COMMANDS = new Set(['nbdkit', 'qemu-nbd']);

const ServerRecord = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-server'),
  pid: z.number().int().min(2),
  start: z.string().regex(/^\d+$/),
  /** The Unix socket it serves on (absent for a TCP server). */
  socket: z.string().optional(),
});
type ServerRecord = z.infer<typeof ServerRecord>;

/** DIR/NAME.server.json for DIR/NAME.pid. */
export const serverRecordPath = (pidfile: string) => path.join(path.dirname(pidfile), `${path.basename(pidfile, '.pid')}.server.json`);

function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readRecord(pidfile: string): ServerRecord | undefined {
  try {
    const r = ServerRecord.safeParse(JSON.parse(readFileSync(serverRecordPath(pidfile), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Record who wrote PIDFILE, right after the server wrote it. Returns its pid. */
export async function recordServer(pidfile: string, socket: string | undefined): Promise<number | undefined> {
  const pid = readPid(pidfile);
  const stat = pid !== undefined ? processStat(pid) : undefined;
  if (pid === undefined || !stat) return pid;
  const record: ServerRecord = { version: 1, kind: 'v2v-server', pid, start: stat.start, ...(socket ? { socket } : {}) };
  await writeJson(serverRecordPath(pidfile), record);
  return pid;
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** The pid of the server PIDFILE names, if that process is still that server (see above). */
export function recordedServer(pidfile: string): number | undefined {
  const pid = readPid(pidfile);
  if (pid === undefined || !SERVER_COMMANDS.has(processName(pid) ?? '') || !running(pid)) return undefined;
  const args = processArgs(pid) ?? [];
  const base = path.basename(pidfile);
  const named = args.some((a) => {
    const v = a.replace(/^--pid-?file=/, '');
    return v === pidfile || (path.basename(v) === base && samePath(v, pidfile));
  });
  if (!named) return undefined;
  const record = readRecord(pidfile);
  if (!record) return pid;
  if (record.pid !== pid || !sameProcess(pid, record.start)) return undefined;
  if (record.socket !== undefined && !args.includes(record.socket)) return undefined;
  return pid;
}

/**
 * Stop the server PIDFILE names, if it is still the one we started:
 * SIGTERM, SIGKILL after graceMs, until it is gone; then remove the pidfile
 * and its record. Returns whether a server was running.
 */
export async function stopByPidfile(pidfile: string, graceMs = 3000): Promise<boolean> {
  const pid = recordedServer(pidfile);
  const start = pid !== undefined ? processStat(pid)?.start : undefined;
  if (pid !== undefined && start !== undefined) {
    try {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      let killed = false;
      while (sameProcess(pid, start)) {
        if (!killed && Date.now() > deadline) {
          process.kill(pid, 'SIGKILL');
          killed = true;
        }
        await sleep(20);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  rmSync(pidfile, { force: true });
  rmSync(serverRecordPath(pidfile), { force: true });
  return pid !== undefined;
}
