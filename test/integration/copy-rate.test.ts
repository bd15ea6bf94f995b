// The copy's rate limit (CopyOptions.rateLimit, `v2v copy --rate-limit`):
// the copier's token bucket holds reads back to the rate, the bytes still
// match, holes cost nothing, and cancel still stops a throttled copy at once.
// Rates are asserted from the copy's own reported seconds, not the test's
// wall clock.
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { runCli } from '../helpers/cli.js';
import { readAll, sha256, test } from '../helpers/fixtures.js';
import { deferred, has, rejectionOf } from '../helpers/tools.js';

const MiB = 1024 * 1024;

describe.skipIf(!has('nbdkit') || !has('nbdcopy'))('copy: rate limit', () => {
  test('64 MiB of data at 32 MiB/s takes about 2 s, bytes match', async ({ nbdkit }) => {
    const src = await nbdkit(['random', `${64 * MiB}`, 'seed=7'], { readonly: true });
    const dst = await nbdkit(['memory', `${64 * MiB}`]);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { rateLimit: 32 * MiB } });
    expect(stats.bytesData).toBe(64 * MiB);
    expect(stats.seconds).toBeGreaterThanOrEqual(1.8);
    expect(stats.size / stats.seconds).toBeLessThan(34 * MiB);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('holes are not charged: only the data read counts', async ({ nbdkit }) => {
    // 64 MiB with 10 % data: about 6.4 MiB to read at 32 MiB/s.
    const src = await nbdkit(['sparse-random', `${64 * MiB}`, 'percent=10', 'seed=3'], { readonly: true });
    const dst = await nbdkit(['memory', `${64 * MiB}`]);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { rateLimit: 32 * MiB } });
    expect(stats.seconds).toBeLessThan(1.2);
    expect(stats.seconds).toBeGreaterThanOrEqual((stats.bytesData / (32 * MiB)) * 0.8);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('cancel stops a throttled copy as fast as an unthrottled one (1.5 s, as copy-cancel)', async ({ nbdkit }) => {
    const src = await nbdkit(['random', `${64 * MiB}`], { readonly: true });
    const dst = await nbdkit(['memory', `${64 * MiB}`]);
    const ac = new AbortController();
    const copying = deferred();
    const p = copy({
      source: src.uri,
      target: dst.uri,
      options: { rateLimit: MiB },
      signal: ac.signal,
      onProgress: (done) => done > 0 && copying.resolve(),
    });
    await copying.promise; // under way, and held back by the limit from now on
    const t0 = Date.now();
    ac.abort();
    const err = await rejectionOf(p);
    expect(err.code).toBe('ABORT_ERR');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  test('v2v copy --rate-limit 16M', async ({ nbdkit }) => {
    const src = await nbdkit(['random', `${16 * MiB}`], { readonly: true });
    const dst = await nbdkit(['memory', `${16 * MiB}`]);
    const r = await runCli(['copy', '--rate-limit', '16M', '--stats', src.uri, dst.uri]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const secs = Number(/ in ([\d.]+) s /.exec(r.stdout)?.[1]);
    expect(secs).toBeGreaterThanOrEqual(0.9);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('a negative rate is a one-line ConfigError', async () => {
    const err = await rejectionOf(copy({ source: 'a.img', target: 'null:', options: { rateLimit: -1 } }));
    expect(err.code).toBe('CONFIG_ERROR');
    expect(err.message).toMatch(/^copy options: rateLimit: /);
  });
});
