// Cancellation: an AbortSignal given to copy(), and Ctrl-C (SIGINT) to the
// CLI. A cancelled copy ends promptly, leaves no server it started behind,
// and removes a target file it created.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { isAbortError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { test } from '../helpers/fixtures.js';
import { alive, deferred, has, waitFor } from '../helpers/tools.js';

const MiB = 1024 * 1024;
// 64 MiB in 256 reads of 200 ms, at most 16 at a time: over 3 s of copying,
// far longer than any test waits before it cancels.
const SLOW = ['--filter=delay', 'pattern', '64M', 'delay-read=200ms'];

function pidFrom(pidfile: string): number {
  return Number(readFileSync(pidfile, 'utf8').trim());
}

/** Run copy() with `signal`, resolving with whatever it ended with. */
async function settle(p: Promise<unknown>): Promise<{ ok: boolean; value: unknown; at: number }> {
  return p.then(
    (value) => ({ ok: true, value, at: Date.now() }),
    (value: unknown) => ({ ok: false, value, at: Date.now() }),
  );
}

describe.skipIf(!has('nbdkit'))('copy cancel', () => {
  test('an AbortSignal during a slow copy rejects with ABORT_ERR within 1.5 s', async ({ nbdkit }) => {
    const src = await nbdkit(SLOW);
    const dst = await nbdkit(['memory', '64M']);
    const ac = new AbortController();
    const started = deferred();
    let done = 0;
    const running = settle(
      copy({
        source: src.uri,
        target: dst.uri,
        signal: ac.signal,
        onProgress: (d) => {
          done = d;
          if (d > 0) started.resolve();
        },
      }),
    );
    // Cancel in the middle of the copy, once some data has been copied.
    await Promise.race([started.promise, running]);
    expect(done, 'the copy was under way').toBeGreaterThan(0);
    expect(done).toBeLessThan(64 * MiB);
    const abortedAt = Date.now();
    ac.abort();
    const r = await running;
    expect(r.ok, 'a cancelled copy must not report success').toBe(false);
    expect((r.value as { code?: string }).code).toBe('ABORT_ERR');
    expect(isAbortError(r.value)).toBe(true);
    expect(r.at - abortedAt).toBeLessThan(1500);
  });

  test('an AbortSignal stops a socket-activated source server ([ nbdkit ... ]): its pid is gone within 2 s', async ({ tmp }) => {
    const pidfile = path.join(tmp, 'sa.pid');
    const ac = new AbortController();
    const started = deferred();
    const running = settle(
      copy({
        source: ['nbdkit', '--pidfile', pidfile, ...SLOW],
        target: 'null:',
        signal: ac.signal,
        onProgress: (d) => d > 0 && started.resolve(),
      }),
    );
    await Promise.race([started.promise, running]);
    expect(existsSync(pidfile), 'the server wrote its pidfile').toBe(true);
    const pid = pidFrom(pidfile);
    expect(alive(pid)).toBe(true);
    const abortedAt = Date.now();
    ac.abort();
    const r = await running;
    expect(r.ok).toBe(false);
    expect((r.value as { code?: string }).code).toBe('ABORT_ERR');
    expect(r.at - abortedAt).toBeLessThan(1500);
    await waitFor(() => !alive(pid), 2000, `socket-activated nbdkit ${pid} to exit`);
  });

  test('SIGINT to `v2v copy` exits 130 (128 + SIGINT) within 2 s, says cancelled, removes the new target file and the [ ... ] server', async ({
    tmp,
  }) => {
    const pidfile = path.join(tmp, 'sa.pid');
    const out = path.join(tmp, 'out.img');
    let cliPid = 0;
    const running = runCli(['copy', '[', 'nbdkit', '--pidfile', pidfile, ...SLOW, ']', out], {
      onSpawn: (p) => (cliPid = p),
    });
    let finished = false;
    void running.then(() => (finished = true));
    // The copy is under way once the server is up and the target exists.
    await waitFor(() => finished || (existsSync(pidfile) && existsSync(out)), 10_000, 'the copy to start');
    expect(finished, 'the copy must still be running').toBe(false);
    const serverPid = pidFrom(pidfile);
    await new Promise((r) => setTimeout(r, 300));
    expect(finished, 'the copy must still be running').toBe(false);
    const signalledAt = Date.now();
    process.kill(cliPid, 'SIGINT');
    const r = await running;
    const exitedAt = Date.now();
    expect(r.signal).toBeNull();
    expect(r.code).toBe(130);
    expect(exitedAt - signalledAt).toBeLessThan(2000);
    expect(r.stderr).toContain('cancelled');
    // The `[ ... ]` server is libnbd's child and shares our stderr (as with
    // nbdcopy): a line it had not finished when it was stopped may precede
    // ours on the same line.
    expect(r.stderr).toMatch(/(^|: )v2v: copy: cancelled$/m);
    expect(existsSync(out), 'the target file the copy created is removed').toBe(false);
    await waitFor(() => !alive(serverPid), 2000, `socket-activated nbdkit ${serverPid} to exit`);
  });
});
