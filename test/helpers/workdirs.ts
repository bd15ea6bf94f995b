// Step subcommands on work dirs, as the step tests drive them: the `v2v`
// runs, what a work dir holds (pidfiles, entries), the pairs `v2v output
// setup` prints, and a reaper for the detached servers a failing test
// leaves (they outlive `v2v` on purpose).
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { processName, running } from '../../src/process/proc-stat.js';
import { runCli, type CliResult } from './cli.js';
import { test as base, processesUsing } from './fixtures.js';

export { running };
export const comm = processName;

export const v2v = (...args: string[]) => runCli(args);

/** NAME -> pid for every DIR/NAME.pid. */
export async function pidfiles(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of (await readdir(dir)).filter((e) => e.endsWith('.pid')).sort()) {
    const text = await readFile(path.join(dir, f), 'utf8');
    expect(text, `${f} holds one pid`).toMatch(/^\d+\n?$/);
    out[f.slice(0, -'.pid'.length)] = Number(text.trim());
  }
  return out;
}

export async function gone(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/** The socket path of an nbd+unix:// URI. */
export function socketOf(uri: string): string {
  const u = new URL(uri);
  expect(u.protocol).toBe('nbd+unix:');
  return u.searchParams.get('socket') ?? '';
}

/** The "SOURCE TARGET" lines `v2v output setup` printed. */
export function pairsOf(r: CliResult): [string, string][] {
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => {
      const words = l.split(' ');
      expect(words, `pair line ${JSON.stringify(l)}`).toHaveLength(2);
      return [words[0]!, words[1]!];
    });
}

export function expectOk(r: CliResult, what: string): void {
  expect(r.stderr, `${what}: stderr`).toBe('');
  expect(r.code, `${what}: exit status`).toBe(0);
}

/** DIR's entries other than step logs (a failing step may append to its log). */
export async function nonLogEntries(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((e) => !e.endsWith('.log')).sort();
}

/** Kill every nbdkit or qemu-nbd whose command line mentions DIR. */
export function reapServers(dir: string): void {
  for (const l of processesUsing(dir)) {
    const pid = Number(l.trim().split(/\s+/)[0]);
    if (['nbdkit', 'qemu-nbd'].includes(comm(pid) ?? '')) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

/** The fixtures' test, with whatever a failing test leaves running in its tmp reaped. */
export const test = base.extend<{ reaper: void }>({
  reaper: [
    async ({ tmp }, use) => {
      await use();
      reapServers(tmp);
    },
    { auto: true },
  ],
});
