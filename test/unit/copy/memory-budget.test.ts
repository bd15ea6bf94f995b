import { describe, expect, it } from 'vitest';
import { describeLowering, fitMemoryBudget } from '../../../src/copy/memory-budget.js';
import { CopyOptions, DEFAULT_MEMORY_BUDGET } from '../../../src/copy/options.js';

const MiB = 1024 * 1024;

describe('fitMemoryBudget', () => {
  it('leaves options within the budget alone (the defaults: 4 MiB of buffers)', () => {
    const o = CopyOptions.parse({ connections: 1 });
    expect(o.memoryBudget).toBe(DEFAULT_MEMORY_BUDGET);
    expect(fitMemoryBudget(o)).toEqual({ connections: 1, requests: 32, bytes: 4 * MiB, lowered: false });
    // Exactly the budget is within it.
    expect(fitMemoryBudget({ connections: 8, requests: 1, requestSize: 32 * MiB, memoryBudget: 256 * MiB }).lowered).toBe(false);
  });

  it('-C 8 -R 1024 --request-size 32M with the default budget: one request on each of 2 connections, 64 MiB', () => {
    const o = CopyOptions.parse({ connections: 8, requests: 1024, requestSize: 32 * MiB });
    expect(fitMemoryBudget(o)).toEqual({ connections: 2, requests: 1, bytes: 64 * MiB, lowered: true });
  });

  it('lowers requests to the most that fit, never below 1', () => {
    expect(fitMemoryBudget({ connections: 4, requests: 64, requestSize: MiB, memoryBudget: 100 * MiB })).toEqual({
      connections: 4,
      requests: 25,
      bytes: 100 * MiB,
      lowered: true,
    });
    expect(fitMemoryBudget({ connections: 2, requests: 3, requestSize: 32 * MiB, memoryBudget: 64 * MiB }).requests).toBe(1);
  });

  it('lowers connections only when one request per connection is still too much', () => {
    const plan = fitMemoryBudget({ connections: 64, requests: 2, requestSize: 32 * MiB, memoryBudget: 256 * MiB });
    expect(plan).toEqual({ connections: 8, requests: 1, bytes: 256 * MiB, lowered: true });
  });

  it('never exceeds the budget for any valid options', () => {
    for (const connections of [1, 3, 8, 64])
      for (const requests of [1, 7, 32, 1024])
        for (const requestSize of [4096, 128 * 1024, MiB, 32 * MiB])
          for (const memoryBudget of [32 * MiB, 100 * MiB + 12345, 256 * MiB]) {
            const o = CopyOptions.parse({ connections, requests, requestSize, memoryBudget });
            const plan = fitMemoryBudget(o);
            expect(plan.bytes).toBeLessThanOrEqual(memoryBudget);
            expect(plan.requests).toBeGreaterThanOrEqual(1);
            expect(plan.connections).toBeGreaterThanOrEqual(1);
            expect(plan.requests).toBeLessThanOrEqual(requests);
            expect(plan.connections).toBeLessThanOrEqual(connections);
          }
  });

  it('says what was lowered and why in one line', () => {
    const o = { connections: 8, requests: 1024, requestSize: 32 * MiB, memoryBudget: 256 * MiB };
    expect(describeLowering(o, fitMemoryBudget(o))).toBe(
      'lowered requests in flight per connection from 1024 to 1: 8 x 1024 x 32 MiB requests would exceed ' +
        'the memory budget of 256 MiB (buffers now 256 MiB)',
    );
  });
});

describe('CopyOptions.memoryBudget', () => {
  it('defaults to 64 MiB and must hold at least one request', () => {
    expect(CopyOptions.parse({}).memoryBudget).toBe(64 * MiB);
    const r = CopyOptions.safeParse({ requestSize: 32 * MiB, memoryBudget: 16 * MiB });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path)).toEqual([['memoryBudget']]);
    expect(CopyOptions.safeParse({ memoryBudget: 1000 }).success).toBe(false);
  });
});
