import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkerReady } from '../../../src/protocol/messages.js';
import { isWorkerReady } from '../../../src/workers/ready.js';

describe('worker.ready: the pool checks it by hand, as the zod schema does', () => {
  it('agrees with WorkerReady on messages of every shape', () => {
    const field = fc.oneof(fc.constant('worker.ready'), fc.constant('copy'), fc.constant('step'), fc.integer(), fc.double(), fc.string(), fc.constant(null));
    const message = fc.oneof(
      fc.record({ type: field, worker: field, threadId: field }, { requiredKeys: [] }),
      fc.record({ type: fc.constant('worker.ready'), worker: fc.constantFrom('copy', 'step', 'other'), threadId: fc.oneof(fc.integer(), fc.double()) }),
      fc.record({ type: fc.constant('worker.ready'), worker: fc.constant('copy'), threadId: fc.integer(), extra: field }),
      fc.anything(),
    );
    fc.assert(fc.property(message, (m) => isWorkerReady(m) === WorkerReady.safeParse(m).success), { numRuns: 2000 });
  });
  it('accepts what sayReady posts', () => {
    expect(isWorkerReady({ type: 'worker.ready', worker: 'copy', threadId: 3 })).toBe(true);
    expect(isWorkerReady({ type: 'worker.ready', worker: 'copy', threadId: 3.5 })).toBe(false);
  });
});
