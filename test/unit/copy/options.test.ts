import { describe, expect, it } from 'vitest';
import { CopyOptions, defaultConnections } from '../../../src/copy/options.js';

describe('CopyOptions', () => {
  it('fills defaults', () => {
    const o = CopyOptions.parse({});
    expect(o).toMatchObject({ requests: 32, requestSize: 131072, sparse: 4096, flush: true, extents: true, retries: 0 });
    expect(o.connections).toBe(defaultConnections());
  });
  it('chooses fewer connections on small machines', () => {
    expect(defaultConnections(1)).toBe(1);
    expect(defaultConnections(2)).toBe(1);
    expect(defaultConnections(8)).toBe(4);
    expect(defaultConnections(64)).toBe(4);
  });
  it('rejects unknown keys and inconsistent sizes with the path named', () => {
    expect(CopyOptions.safeParse({ request: 4 }).success).toBe(false);
    const r = CopyOptions.safeParse({ requestSize: 65536, rangeSize: 65536 * 3 + 4096 });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['rangeSize']);
    expect(CopyOptions.safeParse({ requestSize: 3000 }).success).toBe(false);
    expect(CopyOptions.safeParse({ sparse: 100 }).success).toBe(false);
    expect(CopyOptions.safeParse({ sparse: 0 }).success).toBe(true);
    expect(CopyOptions.safeParse({ requestSize: 64 * 1024 * 1024 }).success).toBe(false);
  });
});
