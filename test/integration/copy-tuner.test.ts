// The request size chosen while copying (issue 12; native/size-tuner.h):
// requests start at 128 KiB; 512 KiB and 2 MiB are measured against it in
// rounds, and the copy settles on the best median score. A source whose every read waits 40 ms (nbdkit's delay filter) copies
// faster the larger the reads, up to the bytes in flight allowed (16 MiB
// per connection): the copier must find a larger size by itself. Given
// --request-size alone (nbdcopy's meaning), or under a rate limit, the size
// stays fixed. The bytes are compared every time.
import { readFileSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { tunerPlan } from '../../src/copy/memory-budget.js';
import { CopyOptions } from '../../src/copy/options.js';
import { runCli } from '../helpers/cli.js';
import { readAll, sha256, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
// 512 MiB of a known pattern, each read delayed: latency-bound, so 128 KiB
// x 32 in flight is about 100 MB/s and 512 KiB x 32 four times that.
const SLOW = ['--filter=delay', 'pattern', '512M', 'delay-read=40ms'];

describe.skipIf(!has('nbdkit'))('copy: the request size grows while copying', () => {
  test('a latency-bound source: the size grows to at least 512 KiB, the bytes are the source\'s', { timeout: 120_000 }, async ({ nbdkit }) => {
    const src = await nbdkit(SLOW, { readonly: true });
    const dst = await nbdkit(['memory', '512M']);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { connections: 1 } });
    expect(stats.requestSizes).toHaveLength(1);
    expect(stats.requestSizes[0]).toBeGreaterThanOrEqual(512 * KiB);
    expect(stats.requestSizes[0]).toBeLessThanOrEqual(2 * MiB);
    const ref = await nbdkit(['pattern', '512M'], { readonly: true });
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(ref.uri)));
  });

  test('--request-size alone fixes the size (nbdcopy\'s meaning); --max-request-size sets the ceiling', { timeout: 120_000 }, async ({ nbdkit, tmp }) => {
    const src = await nbdkit(['--filter=delay', 'pattern', '128M', 'delay-read=40ms'], { readonly: true });
    const log = `${tmp}/copy.log`;
    const fixed = await runCli(['--log-file', log, 'copy', '-C', '1', '--request-size', '128K', src.uri, 'null:']);
    expect(fixed.code, fixed.stderr).toBe(0);
    const sizes = (file: string) => [...new Set(readFileSync(file, 'utf8').match(/"requestSizes":\[\d+\]/g))];
    expect(sizes(log)).toEqual(['"requestSizes":[131072]']);
    const capped = `${tmp}/capped.log`;
    const r = await runCli(['--log-file', capped, 'copy', '-C', '1', '--max-request-size', '256K', src.uri, 'null:']);
    expect(r.code, r.stderr).toBe(0);
    expect(sizes(capped)).toHaveLength(1);
    expect(['"requestSizes":[131072]', '"requestSizes":[262144]']).toContain(sizes(capped)[0]);
    expect(tunerPlan(CopyOptions.parse({ requestSize: 128 * KiB, maxRequestSize: 0 }), { connections: 1 }).maxRequestSize).toBe(0);
  });

  test('the plan: within the memory budget per connection, half of it in flight, no tuning under a rate limit', () => {
    const o = CopyOptions.parse({});
    expect(tunerPlan(o, { connections: 1 })).toEqual({ maxRequestSize: 2 * MiB, queueBytes: 16 * MiB, bufferBudget: 64 * MiB });
    expect(tunerPlan(o, { connections: 4 })).toEqual({ maxRequestSize: 2 * MiB, queueBytes: 8 * MiB, bufferBudget: 16 * MiB });
    expect(tunerPlan({ ...o, memoryBudget: 256 * KiB }, { connections: 1 })).toEqual({ maxRequestSize: 0, queueBytes: 0, bufferBudget: 0 });
    expect(tunerPlan({ ...o, memoryBudget: 2 * MiB }, { connections: 1 })).toEqual({ maxRequestSize: MiB, queueBytes: MiB, bufferBudget: 2 * MiB });
    expect(tunerPlan({ ...o, rateLimit: MiB }, { connections: 1 }).maxRequestSize).toBe(0);
  });
});
