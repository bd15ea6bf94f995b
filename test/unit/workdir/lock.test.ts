// The work dir lock (src/workdir/lock.ts): a live holder in another process
// refuses (or, with a wait, delays) the next step; a dead holder's lock is
// taken over; a dir whose job record names a running job is that job's.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { StateError } from '../../../src/errors.js';
import { processStat } from '../../../src/process/proc-stat.js';
import { lockPath, lockWorkDir } from '../../../src/workdir/lock.js';
import { openWorkDir } from '../../../src/workdir/workdir.js';
import { test } from '../../helpers/fixtures.js';
import { rejectionOf } from '../../helpers/tools.js';

/** A lock file held by a `sleep SECONDS` process. */
async function heldBySleep(dir: string, seconds: number): Promise<number> {
  const child = spawn('sleep', [String(seconds)], { stdio: 'ignore' });
  const pid = child.pid!;
  await writeFile(path.join(dir, 'lock'), JSON.stringify({ pid, start: processStat(pid)!.start, what: 'v2v output finalize' }));
  return pid;
}

describe('work dir lock', () => {
  test('held by a live process: refused in one line naming it; with a wait, taken once it is gone', async ({ tmp }) => {
    const w = openWorkDir(tmp);
    const pid = await heldBySleep(tmp, 1);
    const err = await rejectionOf(lockWorkDir(w, 'v2v cleanup'));
    expect(err).toBeInstanceOf(StateError);
    expect(err.message).toBe(`work dir ${tmp} is busy: v2v output finalize (pid ${pid}) is running there; v2v cleanup refused`);
    const release = await lockWorkDir(w, 'v2v cleanup', 10_000);
    expect(JSON.parse(await readFile(lockPath(w), 'utf8'))).toMatchObject({ pid: process.pid, what: 'v2v cleanup' });
    await release();
    await expect(readFile(lockPath(w))).rejects.toThrow(/ENOENT/);
  });

  test("a dead holder's lock (same pid, another start time) is taken over", async ({ tmp }) => {
    const w = openWorkDir(tmp);
    await writeFile(lockPath(w), JSON.stringify({ pid: process.pid, start: '1', what: 'v2v convert' }));
    const release = await lockWorkDir(w, 'v2v output setup');
    expect(JSON.parse(await readFile(lockPath(w), 'utf8'))).toMatchObject({ what: 'v2v output setup', start: processStat(process.pid)!.start });
    await release();
  });

  test('callers in one process queue instead of refusing each other', async ({ tmp }) => {
    const w = openWorkDir(tmp);
    const order: string[] = [];
    const first = await lockWorkDir(w, 'copy of disk sda');
    const second = lockWorkDir(w, 'copy of disk sdb').then((r) => (order.push('sdb'), r));
    await new Promise((r) => setTimeout(r, 50));
    order.push('sda released');
    await first();
    await (await second)();
    expect(order).toEqual(['sda released', 'sdb']);
  });

  test("a work dir whose job.json names another running job is that job's", async ({ tmp }) => {
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      await writeFile(
        path.join(tmp, 'job.json'),
        JSON.stringify({ version: 1, kind: 'v2v-job', owner: 'process', pid, start: processStat(pid)!.start, host: os.hostname(), argv: [], cwd: '/', created: '' }),
      );
      expect((await rejectionOf(lockWorkDir(openWorkDir(tmp), 'v2v cleanup'))).message).toBe(`work dir ${tmp} belongs to a running job (pid ${pid}): v2v cleanup refused`);
    } finally {
      child.kill();
    }
  });
});
