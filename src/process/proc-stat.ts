// What /proc says of a process: its state and its start time (field 22 of
// /proc/PID/stat, clock ticks after boot). A pid with the same start time is
// the same process; a recycled pid has another. Used to judge records on
// disk (job.json, server records, the work dir lock) before acting on them.
import { readFileSync } from 'node:fs';

/** State (field 3) and start time (field 22) of PID, or undefined if there is no such process. */
export function processStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = f[19];
  return start !== undefined && /^\d+$/.test(start) ? { state: f[0]!, start } : undefined;
}

/** Running: it exists and is not a zombie (finished, waiting for its parent to reap it). */
export function running(pid: number): boolean {
  const s = processStat(pid);
  return s !== undefined && s.state !== 'Z';
}

/** PID runs and is the process that started at START (not a recycled pid). */
export function sameProcess(pid: number, start: string): boolean {
  const s = processStat(pid);
  return s !== undefined && s.state !== 'Z' && s.start === start;
}

/** The arguments PID was started with, or undefined if it is gone. */
export function processArgs(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** The command name of PID (/proc/PID/comm), or undefined if it is gone. */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
