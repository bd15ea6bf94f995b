// Progress: nbdcopy's `--progress=FD` lines ("N/100"), their JSON form, and
// the onProgress callback of copy(). Sources are slowed with nbdkit's delay
// filter so that a copy spans several progress ticks (100 ms each).
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { readAll, sha256, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const SIZE = 16 * 1024 * 1024;
// 16 MiB in 64 reads of 60 ms, at most 16 at a time: about 250 ms or more.
const SLOW = ['--filter=delay', 'pattern', '16M', 'delay-read=60ms'];
// The same bytes without the delay, to compare with (reading the slow one
// back through nbdcopy would take seconds).
const REF = ['pattern', '16M'];

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

function expectNonDecreasing(xs: number[]): void {
  for (let i = 1; i < xs.length; i++) expect(xs[i], `progress went back at line ${i}: ${xs.join(',')}`).toBeGreaterThanOrEqual(xs[i - 1]!);
}

describe.skipIf(!has('nbdkit') || !has('nbdcopy'))('copy progress', () => {
  test('--progress=3 writes "N/100" lines on fd 3, non-decreasing, ending 100/100', async ({ nbdkit }) => {
    const src = await nbdkit(SLOW);
    const ref = await nbdkit(REF);
    const dst = await nbdkit(['memory', '16M']);
    const r = await runCli(['copy', '--progress=3', src.uri, dst.uri], { extraFds: 1 });
    expect(r.code, r.stderr).toBe(0);
    expect(stderrLines(r)).toEqual([]);
    expect(r.stdout).toBe('');
    const got = lines(r.extra[0]!);
    expect(got.length).toBeGreaterThanOrEqual(2);
    for (const l of got) expect(l).toMatch(/^\d+\/100$/);
    const pct = got.map((l) => Number(l.split('/')[0]));
    for (const p of pct) expect(p).toBeLessThanOrEqual(100);
    expectNonDecreasing(pct);
    expect(got.at(-1)).toBe('100/100');
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(ref.uri)));
  });

  test('--progress=3 --progress-format=json writes JSON lines with done/total in bytes, ending done = total = size', async ({
    nbdkit,
  }) => {
    const src = await nbdkit(SLOW);
    const ref = await nbdkit(REF);
    const dst = await nbdkit(['memory', '16M']);
    const r = await runCli(['copy', '--progress=3', '--progress-format=json', src.uri, dst.uri], { extraFds: 1 });
    expect(r.code, r.stderr).toBe(0);
    const got = lines(r.extra[0]!).map((l) => JSON.parse(l) as { done: unknown; total: unknown });
    expect(got.length).toBeGreaterThanOrEqual(2);
    for (const p of got) {
      expect(typeof p.done).toBe('number');
      expect(p.total).toBe(SIZE);
      expect(p.done as number).toBeGreaterThanOrEqual(0);
      expect(p.done as number).toBeLessThanOrEqual(SIZE);
    }
    expectNonDecreasing(got.map((p) => p.done as number));
    expect(got.at(-1)!.done).toBe(SIZE);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(ref.uri)));
  });

  test('onProgress of copy() reports done <= total = size, non-decreasing, finally done === total', async ({ nbdkit }) => {
    const src = await nbdkit(SLOW);
    const ref = await nbdkit(REF);
    const dst = await nbdkit(['memory', '16M']);
    const calls: [number, number][] = [];
    const stats = await copy({ source: src.uri, target: dst.uri, onProgress: (d, t) => calls.push([d, t]) });
    expect(stats.size).toBe(SIZE);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const [d, t] of calls) {
      expect(t).toBe(SIZE);
      expect(d).toBeLessThanOrEqual(t);
    }
    expect(calls.some(([d]) => d < SIZE), 'some progress was reported before the end').toBe(true);
    expectNonDecreasing(calls.map(([d]) => d));
    expect(calls.at(-1)).toEqual([SIZE, SIZE]);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(ref.uri)));
  });
});
