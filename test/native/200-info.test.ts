// What the server told us at handshake (libnbd python/t/200-*, 230-*):
// size, flags, block sizes and meta contexts, each checked against a server
// set up to say yes and one set up to say no.
import { describe, expect } from 'vitest';
import { CONTEXT_BASE_ALLOCATION } from '../../src/nbd/handle.js';
import { test } from '../helpers/nbd.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;

/** A read-only plugin with no flush, trim, zero, FUA or multi-conn. */
const BARE_EVAL = [
  'eval',
  `get_size=echo ${MiB}`,
  'pread=dd if=/dev/zero count=$3 iflag=count_bytes status=none',
];

describe.skipIf(!has('nbdkit'))('200 info', () => {
  test('size', async ({ nbdkit, open }) => {
    for (const size of ['1M', '3M', '12345']) {
      const srv = await nbdkit(['memory', size]);
      const h = open(`size-${size}`);
      await h.connect({ uri: srv.uri });
      expect(h.size).toBe(size === '12345' ? 12345 : Number(size[0]) * MiB);
    }
  });

  test('a writable memory disk can do everything', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    const h = open('memory');
    await h.connect({ uri: srv.uri });
    expect(h.readOnly).toBe(false);
    expect(h.canMultiConn()).toBe(true);
    expect(h.canZero()).toBe(true);
    expect(h.canFastZero()).toBe(true);
    expect(h.canTrim()).toBe(true);
    expect(h.canFlush()).toBe(true);
    expect(h.canFua()).toBe(true);
  });

  test('readOnly with nbdkit -r (and --readonly)', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['-r', 'memory', '1M']);
    const h = open('ro');
    await h.connect({ uri: srv.uri });
    expect(h.readOnly).toBe(true);
    // Nothing that writes is offered on a read-only export.
    expect(h.canZero()).toBe(false);
    expect(h.canTrim()).toBe(false);
    expect(h.canFua()).toBe(false);
    const srv2 = await nbdkit(['memory', '1M'], { readonly: true });
    expect(srv2.command).toContain('--readonly');
    const h2 = open('ro2');
    await h2.connect({ uri: srv2.uri });
    expect(h2.readOnly).toBe(true);
  });

  test('a bare plugin offers no flush, trim, zero, FUA or multi-conn', async ({ nbdkit, open }) => {
    const srv = await nbdkit(BARE_EVAL);
    const h = open('bare');
    await h.connect({ uri: srv.uri });
    expect(h.size).toBe(MiB);
    expect(h.readOnly).toBe(true);
    expect(h.canMultiConn()).toBe(false);
    expect(h.canZero()).toBe(false);
    expect(h.canFastZero()).toBe(false);
    expect(h.canTrim()).toBe(false);
    expect(h.canFlush()).toBe(false);
    expect(h.canFua()).toBe(false);
  });

  test('filters switch single flags off', async ({ nbdkit, open }) => {
    const nozero = await nbdkit(['--filter=nozero', 'memory', '1M']);
    const h1 = open('nozero');
    await h1.connect({ uri: nozero.uri });
    expect([h1.canZero(), h1.canFastZero(), h1.canTrim()]).toEqual([false, false, true]);

    const mc = await nbdkit(['--filter=multi-conn', 'memory', '1M', 'multi-conn-mode=disable']);
    const h2 = open('multi-conn');
    await h2.connect({ uri: mc.uri });
    expect([h2.canMultiConn(), h2.canZero()]).toEqual([false, true]);

    // The fua filter's default mode (none) hides FUA but keeps flush.
    const fua = await nbdkit(['--filter=fua', 'memory', '1M']);
    const h3 = open('fua');
    await h3.connect({ uri: fua.uri });
    expect([h3.canFua(), h3.canFlush()]).toEqual([false, true]);
  });

  test('block sizes from the blocksize-policy filter', async ({ nbdkit, open }) => {
    const srv = await nbdkit([
      '--filter=blocksize-policy',
      'memory',
      '1M',
      'blocksize-minimum=4096',
      'blocksize-preferred=65536',
      'blocksize-maximum=262144',
    ]);
    const h = open('bs');
    await h.connect({ uri: srv.uri });
    expect(h.blockSize('minimum')).toBe(4096);
    expect(h.blockSize('preferred')).toBe(65536);
    expect(h.blockSize('maximum')).toBe(262144);
  });

  test('block sizes when the server gives none are 0', async ({ nbdkit, open }) => {
    // The eval plugin has no block_size method, so nbdkit advertises none.
    const srv = await nbdkit(BARE_EVAL);
    const h = open('bs-none');
    await h.connect({ uri: srv.uri });
    expect(h.blockSize('minimum')).toBe(0);
    expect(h.blockSize('preferred')).toBe(0);
    expect(h.blockSize('maximum')).toBe(0);
  });

  test('canMetaContext: only what was requested and offered', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    const h = open('meta', { metaContexts: [CONTEXT_BASE_ALLOCATION, 'qemu:dirty-bitmap:b0'] });
    await h.connect({ uri: srv.uri });
    expect(h.canMetaContext(CONTEXT_BASE_ALLOCATION)).toBe(true);
    // Requested but nbdkit has no such context.
    expect(h.canMetaContext('qemu:dirty-bitmap:b0')).toBe(false);

    const h2 = open('no-meta');
    await h2.connect({ uri: srv.uri });
    // Offered by the server but never requested.
    expect(h2.canMetaContext(CONTEXT_BASE_ALLOCATION)).toBe(false);
  });
});
