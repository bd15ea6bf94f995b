import { MessageChannel } from 'node:worker_threads';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CopyStart, FromCopyWorker, ToCopyWorker, copyFailed, type CopyStats } from '../../../src/protocol/messages.js';
import { NbdError } from '../../../src/errors.js';

describe('copy messages', () => {
  const base = () => {
    const { port1, port2 } = new MessageChannel();
    port1.close();
    return {
      type: 'copy.start' as const,
      jobId: 'j1',
      disk: 'sda',
      source: { kind: 'null' as const, name: 'x' },
      target: { kind: 'null' as const, name: 'y' },
      options: {},
      log: {},
      port: port2,
    };
  };
  it('accept a well-formed start and fill defaults', () => {
    const m = CopyStart.parse(base());
    expect(m.options.requestSize).toBe(131072);
    expect(m.progressIntervalMs).toBe(100);
    m.port.close();
  });
  it('reject unknown keys, a missing port and unknown message types', () => {
    const b = base();
    expect(CopyStart.safeParse({ ...b, extra: 1 }).success).toBe(false);
    expect(CopyStart.safeParse({ ...b, port: {} }).success).toBe(false);
    expect(ToCopyWorker.safeParse({ type: 'copy.pause', jobId: 'j1' }).success).toBe(false);
    expect(FromCopyWorker.safeParse({ type: 'copy.progress', jobId: 'j1', done: 1 }).success).toBe(false);
    b.port.close();
  });
  it('copyFailed carries the error fields', () => {
    const m = copyFailed('j1', new NbdError('Input/output error', { op: 'nbd_aio_pread', errno: 5, offset: 4096, endpoint: 'source x' }));
    expect(FromCopyWorker.parse(m)).toMatchObject({ type: 'copy.failed', error: { name: 'NbdError', code: 'EIO', op: 'nbd_aio_pread', offset: 4096 } });
  });
  it('types follow the schemas', () => {
    expectTypeOf<CopyStats['bytesData']>().toEqualTypeOf<number>();
    // @ts-expect-error: a progress message needs a total
    const bad: import('../../../src/protocol/messages.js').CopyProgress = { type: 'copy.progress', jobId: 'j', done: 1 };
    expect(bad.type).toBe('copy.progress');
  });
});
