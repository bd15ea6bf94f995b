// Data commands (libnbd python/t/400-pread.py, 410-pwrite.py, 460-block-status
// aside): bytes written come back, zero and trim read as zeros, many requests
// run at once, and buffers are used in place.
import { randomBytes } from 'node:crypto';
import { describe, expect } from 'vitest';
import { CMD_FLAG, type NbdHandle } from '../../src/nbd/handle.js';
import { readAll } from '../helpers/fixtures.js';
import { test } from '../helpers/nbd.js';
import { has } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function memoryDisk(
  nbdkit: (args: string[]) => Promise<{ uri: string }>,
  open: (name: string) => NbdHandle,
  size = '4M',
): Promise<{ h: NbdHandle; uri: string }> {
  const srv = await nbdkit(['memory', size]);
  const h = open('io');
  await h.connect({ uri: srv.uri });
  return { h, uri: srv.uri };
}

describe.skipIf(!has('nbdkit'))('400 io', () => {
  test('pwrite then pread returns the same bytes; a peer sees them too', async ({ nbdkit, open }) => {
    const { h, uri } = await memoryDisk(nbdkit, open);
    const data = randomBytes(256 * KiB);
    await h.pwrite(data, 64 * KiB);
    const back = Buffer.alloc(data.length);
    await h.pread(back, 64 * KiB);
    expect(back.equals(data)).toBe(true);
    // Read the whole disk with nbdcopy: our writes landed where we said.
    if (has('nbdcopy')) {
      const all = await readAll(uri);
      expect(all.length).toBe(4 * MiB);
      expect(all.subarray(64 * KiB, 64 * KiB + data.length).equals(data)).toBe(true);
      expect(all.subarray(0, 64 * KiB).every((b) => b === 0)).toBe(true);
      expect(all.subarray(64 * KiB + data.length).every((b) => b === 0)).toBe(true);
    }
  });

  test('pwrite with FUA and an unaligned range', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    expect(h.canFua()).toBe(true);
    const data = randomBytes(1000);
    await h.pwrite(data, 12345, CMD_FLAG.FUA);
    const back = Buffer.alloc(1002);
    await h.pread(back, 12344);
    expect(back[0]).toBe(0);
    expect(back.subarray(1, 1001).equals(data)).toBe(true);
    expect(back[1001]).toBe(0);
  });

  test('zero makes a range read as zeros and leaves its neighbours', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    const data = randomBytes(192 * KiB);
    data.fill(0xff, 64 * KiB - 1, 64 * KiB + 1); // never zero at the edges
    data.fill(0xff, 128 * KiB - 1, 128 * KiB + 1);
    await h.pwrite(data, 0);
    await h.zero(64 * KiB, 64 * KiB);
    const back = Buffer.alloc(data.length);
    await h.pread(back, 0);
    expect(back.subarray(0, 64 * KiB).equals(data.subarray(0, 64 * KiB))).toBe(true);
    expect(back.subarray(64 * KiB, 128 * KiB).every((b) => b === 0)).toBe(true);
    expect(back.subarray(128 * KiB).equals(data.subarray(128 * KiB))).toBe(true);
    // The fast-zero flag is accepted where the server offers it.
    expect(h.canFastZero()).toBe(true);
    await h.zero(4 * KiB, 0, CMD_FLAG.FAST_ZERO);
    await h.pread(back.subarray(0, 4 * KiB), 0);
    expect(back.subarray(0, 4 * KiB).every((b) => b === 0)).toBe(true);
  });

  test('trim on a memory disk reads back as zeros', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    expect(h.canTrim()).toBe(true);
    await h.pwrite(Buffer.alloc(128 * KiB, 0xaa), 0);
    await h.trim(64 * KiB, 0);
    const back = Buffer.alloc(128 * KiB);
    await h.pread(back, 0);
    expect(back.subarray(0, 64 * KiB).every((b) => b === 0)).toBe(true);
    expect(back.subarray(64 * KiB).every((b) => b === 0xaa)).toBe(true);
  });

  test('flush resolves with nothing', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    await h.pwrite(Buffer.alloc(4096, 1), 0);
    await expect(h.flush()).resolves.toBeUndefined();
    expect(h.inFlight).toBe(0);
  });

  test('64 requests in flight at once all return the right data', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    const chunk = 16 * KiB;
    const n = 64;
    const data = randomBytes(n * chunk);
    await h.pwrite(data, 0);
    // Reverse order so a server answering in order of offset could not pass by chance.
    const bufs = Array.from({ length: n }, () => Buffer.alloc(chunk));
    const reads = bufs.map((b, i) => h.pread(b, (n - 1 - i) * chunk)).reverse();
    expect(h.inFlight).toBeGreaterThan(1);
    await Promise.all(reads);
    expect(h.inFlight).toBe(0);
    bufs.forEach((b, i) => {
      const off = (n - 1 - i) * chunk;
      expect(b.equals(data.subarray(off, off + chunk)), `chunk at ${off}`).toBe(true);
    });
    // Writes in flight together as well, then read back in one request.
    const data2 = randomBytes(n * chunk);
    const writes = Array.from({ length: n }, (_, i) => h.pwrite(data2.subarray(i * chunk, (i + 1) * chunk), i * chunk));
    expect(h.inFlight).toBeGreaterThan(1);
    await Promise.all(writes);
    const back = Buffer.alloc(n * chunk);
    await h.pread(back, 0);
    expect(back.equals(data2)).toBe(true);
  });

  test('reads into a view land inside it, writes from a view send only it', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    const data = randomBytes(8 * KiB);
    await h.pwrite(data, 0);

    const big = new Uint8Array(64 * KiB).fill(0xee);
    const view = big.subarray(1000, 1000 + 4096);
    expect(view.byteOffset).toBe(1000);
    await h.pread(view, 2048);
    expect(Buffer.from(big.subarray(1000, 1000 + 4096)).equals(data.subarray(2048, 2048 + 4096))).toBe(true);
    expect(big.subarray(0, 1000).every((b) => b === 0xee)).toBe(true);
    expect(big.subarray(1000 + 4096).every((b) => b === 0xee)).toBe(true);

    // A view of a Node Buffer from the shared pool, written at offset 1 MiB.
    const src = Buffer.alloc(12 * KiB, 0x11);
    src.set(data.subarray(0, 4 * KiB), 4 * KiB);
    await h.pwrite(src.subarray(4 * KiB, 8 * KiB), MiB);
    const back = Buffer.alloc(8 * KiB);
    await h.pread(back, MiB - 2 * KiB);
    expect(back.subarray(0, 2 * KiB).every((b) => b === 0)).toBe(true);
    expect(back.subarray(2 * KiB, 6 * KiB).equals(data.subarray(0, 4 * KiB))).toBe(true);
    expect(back.subarray(6 * KiB).every((b) => b === 0)).toBe(true);
  });

  test('views of a SharedArrayBuffer work like any other Uint8Array', async ({ nbdkit, open }) => {
    // Used to crash the process: the buffer pointer came from
    // ArrayBuffer().Data(), which is null for a SharedArrayBuffer.
    const { h } = await memoryDisk(nbdkit, open);
    const data = randomBytes(16 * KiB);
    const shared = new SharedArrayBuffer(32 * KiB);
    const src = new Uint8Array(shared, 8 * KiB, 16 * KiB);
    src.set(data);
    await h.pwrite(src, 0);
    const dst = new Uint8Array(new SharedArrayBuffer(32 * KiB), 100, 16 * KiB);
    await h.pread(dst, 0);
    expect(Buffer.from(dst).equals(data)).toBe(true);
    expect(new Uint8Array(dst.buffer, 0, 100).every((b) => b === 0)).toBe(true);
  });

  test('zero-copy: the caller\'s buffer object is the one filled', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    const data = randomBytes(32 * KiB);
    await h.pwrite(data, 0);
    const buf = new Uint8Array(32 * KiB);
    const arrayBuffer = buf.buffer;
    const p = h.pread(buf, 0);
    expect(await p).toBeUndefined();
    expect(buf.buffer).toBe(arrayBuffer);
    expect(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).equals(data)).toBe(true);
    // Without libnbd's memset the result is the same.
    h.setPreadInitialize(false);
    const buf2 = new Uint8Array(32 * KiB).fill(0x5a);
    await h.pread(buf2, 0);
    expect(Buffer.from(buf2).equals(data)).toBe(true);
  });

  test('a buffer that is no Uint8Array is refused', async ({ nbdkit, open }) => {
    const { h } = await memoryDisk(nbdkit, open);
    await expect(h.pread('abc' as unknown as Uint8Array, 0)).rejects.toThrow(TypeError);
    await expect(h.pread(new Uint8Array(8), -1)).rejects.toThrow(RangeError);
    expect(h.inFlight).toBe(0);
  });
});
