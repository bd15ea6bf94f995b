// Failure paths of a copy, one test per failure mode, each named for whether
// it must be fatal or tolerated (libnbd's copy/copy-nbd-error.sh does the
// same for nbdcopy). Faults come from real servers: nbdkit's error filter,
// a killed server, a too small or read-only target.
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { NbdError } from '../../src/errors.js';
import type { Server } from '../../src/process/server.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { readAll, sha256, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;

/** The error a copy must fail with; fails the test if the copy succeeds. */
async function failure(p: Promise<unknown>): Promise<NbdError> {
  const outcome = await p.then(
    (stats) => ({ ok: true as const, stats }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`the copy succeeded but must fail: ${JSON.stringify(outcome.stats)}`);
  expect(outcome.err).toBeInstanceOf(NbdError);
  return outcome.err as NbdError;
}

/**
 * Remove `flag` (and so end the error filter's injected errors) `ms` after
 * the server first reported an injected error, so the copy has certainly
 * met the fault whatever its start-up time.
 */
function removeAfterFirstError(server: Server, flag: string, ms: number): { stop(): void; removed(): boolean } {
  let removed = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = setInterval(() => {
    if (!server.stderrTail().includes('injecting EIO error')) return;
    clearInterval(poll);
    timer = setTimeout(() => {
      removed = true;
      void rm(flag, { force: true });
    }, ms);
  }, 10);
  return {
    stop() {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    },
    removed: () => removed,
  };
}

describe.skipIf(!has('nbdkit') || !has('nbdcopy'))('copy faults', () => {
  test('source read error (error-pread) is fatal: NbdError EIO from nbd_aio_pread naming the source', async ({ nbdkit }) => {
    const src = await nbdkit(['--filter=error', 'pattern', '4M', 'error-pread=EIO', 'error-pread-rate=1']);
    const dst = await nbdkit(['memory', '4M']);
    const err = await failure(copy({ source: src.uri, target: dst.uri }));
    expect(err.code).toBe('EIO');
    expect(err.op).toBe('nbd_aio_pread');
    expect(err.endpoint).toBe(`source ${src.uri}`);
    expect(typeof err.offset).toBe('number');
    expect(err.offset! % 4096).toBe(0);
    expect(err.offset!).toBeLessThan(4 * MiB);
    expect(err.step).toBe('copy');
    expect(err.message).toMatch(/^nbd_aio_pread: source /);
    expect(err.message).not.toContain('\n');
  });

  test('source read error is fatal in the CLI: exit 1, one line "v2v: error: copy: nbd_aio_pread: source ...", new target file removed', async ({
    nbdkit,
    tmp,
  }) => {
    const src = await nbdkit(['--filter=error', 'pattern', '4M', 'error-pread=EIO', 'error-pread-rate=1']);
    const out = path.join(tmp, 'out.img');
    const r = await runCli(['copy', src.uri, out]);
    expect(r.code).toBe(1);
    const lines = stderrLines(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^v2v: error: copy: nbd_aio_pread: /);
    expect(lines[0]).toContain(`source ${src.uri}`);
    expect(lines[0]).toContain('Input/output error');
    expect(existsSync(out), 'a target file the copy created is removed on failure').toBe(false);
  });

  test('target write error (error-pwrite) is fatal: NbdError EIO from nbd_aio_pwrite naming the target', async ({ nbdkit }) => {
    const src = await nbdkit(['pattern', '4M']);
    const dst = await nbdkit(['--filter=error', 'memory', '4M', 'error-pwrite=EIO', 'error-pwrite-rate=1']);
    const err = await failure(copy({ source: src.uri, target: dst.uri }));
    expect(err.code).toBe('EIO');
    // The pattern plugin has no all-zero block, so every write is a pwrite.
    expect(err.op).toBe('nbd_aio_pwrite');
    expect(err.endpoint).toBe(`target ${dst.uri}`);
    expect(typeof err.offset).toBe('number');
  });

  test('block-status failure on the source (error-extents) is tolerated: the copy succeeds, bytes equal', async ({ nbdkit }) => {
    const random = ['sparse-random', '16M', 'seed=7', 'percent=50', 'runlength=65536'];
    const src = await nbdkit(['--filter=error', ...random, 'error-extents=EIO', 'error-extents-rate=1']);
    // The same disk without the filter: nbdcopy itself gives up on the
    // failing block status, so the reference is read from here.
    const ref = await nbdkit(random);
    const dst = await nbdkit(['memory', '16M']);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { rangeSize: 4 * MiB } });
    expect(stats.extentFailures).toBeGreaterThan(0);
    expect(stats.size).toBe(16 * MiB);
    const want = await readAll(ref.uri);
    expect(want.some((b) => b !== 0), 'the disk has data to copy').toBe(true);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(want));
  });

  test('source server killed mid-copy is fatal, promptly, naming the source', async ({ nbdkit }) => {
    // 32 MiB in 128 reads of 200 ms, at most 16 at a time: well over a second.
    const src = await nbdkit(['--filter=delay', 'pattern', '32M', 'delay-read=200ms']);
    const dst = await nbdkit(['memory', '32M']);
    let killedAt = 0;
    let doneAtKill = -1;
    let killer: NodeJS.Timeout | undefined;
    // Kill the server once data is flowing (the copy is connected and
    // reading), after ~300 ms more.
    const onProgress = (done: number) => {
      if (done === 0 || killer) return;
      killer = setTimeout(() => {
        killedAt = Date.now();
        doneAtKill = done;
        process.kill(src.pid, 'SIGKILL');
      }, 300);
    };
    try {
      const err = await failure(copy({ source: src.uri, target: dst.uri, onProgress }));
      const failedAt = Date.now();
      expect(killedAt, 'the copy was still running when the server was killed').toBeGreaterThan(0);
      expect(doneAtKill).toBeLessThan(32 * MiB);
      expect(failedAt - killedAt).toBeLessThan(2000);
      expect(err.endpoint).toBe(`source ${src.uri}`);
      expect(err.message).toContain(`source ${src.uri}`);
      expect(err.op).toMatch(/^nbd_aio_/);
    } finally {
      clearTimeout(killer);
    }
  });

  test('short-lived read errors (error-pread-file) are tolerated with retries: 5; the copy succeeds, bytes equal', async ({
    nbdkit,
    tmp,
  }) => {
    const flag = path.join(tmp, 'inject-errors');
    await writeFile(flag, '');
    const src = await nbdkit(['--filter=error', 'pattern', '4M', 'error-pread=EIO', 'error-pread-rate=1', `error-pread-file=${flag}`]);
    const dst = await nbdkit(['memory', '4M']);
    const remover = removeAfterFirstError(src, flag, 150);
    try {
      const stats = await copy({ source: src.uri, target: dst.uri, options: { retries: 5 } });
      expect(remover.removed(), 'the errors ended during the copy').toBe(true);
      expect(stats.retries).toBeGreaterThan(0);
    } finally {
      remover.stop();
    }
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('the same short-lived read errors are fatal without retries', async ({ nbdkit, tmp }) => {
    const flag = path.join(tmp, 'inject-errors');
    await writeFile(flag, '');
    const src = await nbdkit(['--filter=error', 'pattern', '4M', 'error-pread=EIO', 'error-pread-rate=1', `error-pread-file=${flag}`]);
    const dst = await nbdkit(['memory', '4M']);
    const remover = removeAfterFirstError(src, flag, 150);
    try {
      const err = await failure(copy({ source: src.uri, target: dst.uri }));
      expect(err.code).toBe('EIO');
      expect(err.op).toBe('nbd_aio_pread');
      expect(err.endpoint).toBe(`source ${src.uri}`);
    } finally {
      remover.stop();
    }
  });

  test('a target smaller than the source is fatal: one-line error naming the target', async ({ nbdkit }) => {
    const src = await nbdkit(['pattern', '8M']);
    const dst = await nbdkit(['memory', '4M']);
    const err = await failure(copy({ source: src.uri, target: dst.uri }));
    expect(err.endpoint).toBe(`target ${dst.uri}`);
    expect(err.message).toContain(`target ${dst.uri}`);
    expect(err.message).toMatch(/smaller/);
    expect(err.message).not.toContain('\n');
    // Nothing was written to the target.
    expect((await readAll(dst.uri)).every((b) => b === 0)).toBe(true);

    const r = await runCli(['copy', src.uri, dst.uri]);
    expect(r.code).toBe(1);
    const lines = stderrLines(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^v2v: error: copy: /);
    expect(lines[0]).toContain(`target ${dst.uri}`);
    expect(lines[0]).toMatch(/smaller/);
  });

  test('a read-only target (nbdkit --readonly) is fatal: one-line error naming the target', async ({ nbdkit }) => {
    const src = await nbdkit(['pattern', '4M']);
    const dst = await nbdkit(['memory', '4M'], { readonly: true });
    const err = await failure(copy({ source: src.uri, target: dst.uri }));
    expect(err.code).toBe('EROFS');
    expect(err.endpoint).toBe(`target ${dst.uri}`);
    expect(err.message).toMatch(/read-only/);

    const r = await runCli(['copy', src.uri, dst.uri]);
    expect(r.code).toBe(1);
    const lines = stderrLines(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^v2v: error: copy: /);
    expect(lines[0]).toContain(`target ${dst.uri}`);
    expect(lines[0]).toMatch(/read-only/);
  });
});
