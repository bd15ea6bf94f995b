// A copy of only some byte ranges: warm migration's incremental rounds (a
// qcow2 dirty bitmap served by qemu-nbd -B; a JSON extent list as VMware's
// changed block tracking gives it) and committing an overlay into its disk
// (qemu-nbd -A's allocation depth). Every copy is checked by qemu-img
// compare, and the copy's own stats say it read only the ranges.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { rangesFromBitmap, rangesFromJsonFile, rangesFromTopLayer, rangesTotal } from '../../src/copy/ranges.js';
import { makeRaw, readAll, run, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 8 * MiB;
const r = (offset: number, length: number) => ({ offset, length });

const qemuIo = (fmt: string, file: string, cmds: string[]) => run(['qemu-io', '-f', fmt, ...cmds.flatMap((c) => ['-c', c]), file]);
const compare = (a: string, fa: string, b: string, fb: string) => run(['qemu-img', 'compare', '-f', fa, '-F', fb, a, b]);

/** N ranges at seeded pseudo-random offsets in [0, size), unsorted, some overlapping, some 1 byte. */
function scatter(n: number, size: number, seed: number): { offset: number; length: number }[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: n }, () => {
    const offset = next() % size;
    return r(offset, 1 + (next() % Math.min(200_000, size - offset)));
  });
}

/** What the target holds after the copy: `before`, with the source's bytes over RANGES rounded out to BLOCK. */
function expected(before: Buffer, source: Buffer, ranges: { offset: number; length: number }[], block = 1): Buffer {
  const out = Buffer.from(before);
  for (const x of ranges) {
    const s = Math.floor(x.offset / block) * block;
    const e = Math.min(source.length, Math.ceil((x.offset + x.length) / block) * block);
    source.copy(out, s, s, e);
  }
  return out;
}

describe.skipIf(!has('qemu-nbd') || !has('qemu-img') || !has('qemu-io') || !has('nbdkit'))('copy: only given ranges', () => {
  test('incremental rounds from a qcow2 dirty bitmap', async ({ tmp, qemuNbd, nbdkit }) => {
    const src = path.join(tmp, 'src.qcow2');
    const dst = path.join(tmp, 'dst.raw');
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', src, `${SIZE}`]);
    await qemuIo('qcow2', src, ['write -P 0x11 0 3M', 'write -P 0x22 5M 1M']);
    await run(['qemu-img', 'bitmap', '--add', '--granularity', '65536', src, 'b0']);
    // Round 0: the full copy.
    const full = await qemuNbd(src, { format: 'qcow2', readonly: true });
    await copy({ source: full.uri, target: dst });
    await full.stop();
    await compare(src, 'qcow2', dst, 'raw');

    // The guest writes: data, zeroes over data, a discard, an unaligned write into a hole.
    await qemuIo('qcow2', src, ['write -P 0x55 1M 64k', 'write -z 5M 128k', 'discard 2M 64k', 'write -P 0x66 7340033 1000']);
    const srv = await qemuNbd(src, { format: 'qcow2', readonly: true, bitmap: 'b0' });
    const ranges = await rangesFromBitmap(srv.uri, 'b0');
    // The bitmap's 64 KiB blocks around each write.
    expect(ranges).toEqual([r(1 * MiB, 64 * KiB), r(2 * MiB, 64 * KiB), r(5 * MiB, 128 * KiB), r(7 * MiB, 64 * KiB)]);
    const target = await nbdkit(['file', dst]);
    const progress: [number, number][] = [];
    const stats = await copy({ source: srv.uri, target: target.uri, ranges, onProgress: (d, t) => progress.push([d, t]) });
    await srv.stop();
    await target.stop();
    await compare(src, 'qcow2', dst, 'raw');
    expect(stats.size).toBe(SIZE);
    expect(stats.bytesTotal).toBe(rangesTotal(ranges));
    expect(progress.at(-1)).toEqual([stats.bytesTotal, stats.bytesTotal]);
    expect(stats.targetWasZero).toBe(false);
    // Read: the two data blocks; the discarded and zeroed blocks are zero
    // extents, written as zero requests without a read.
    expect(stats.bytesRead).toBe(128 * KiB);
    expect(stats.bytesZeroed).toBeGreaterThanOrEqual(192 * KiB);

    // Round 2: the caller rotates the bitmap; nothing changed since.
    await run(['qemu-img', 'bitmap', '--remove', src, 'b0']);
    await run(['qemu-img', 'bitmap', '--add', '--granularity', '65536', src, 'b0']);
    const srv2 = await qemuNbd(src, { format: 'qcow2', readonly: true, bitmap: 'b0' });
    const none = await rangesFromBitmap(srv2.uri, 'b0');
    expect(none).toEqual([]);
    const target2 = await nbdkit(['file', dst]);
    const stats2 = await copy({ source: srv2.uri, target: target2.uri, ranges: none });
    expect(stats2).toMatchObject({ bytesRead: 0, bytesTotal: 0, bytesData: 0, bytesZeroed: 0 });
    await expect(rangesFromBitmap(srv2.uri, 'b1')).rejects.toThrow(
      /^nbd\+unix:.*: the server does not offer the dirty bitmap "b1" \(qemu:dirty-bitmap:b1, as qemu-nbd -B b1 exports it\)$/,
    );
    await srv2.stop();
    await target2.stop();
    await compare(src, 'qcow2', dst, 'raw');
  });

  test('incremental round from a JSON extent list over a raw disk', async ({ tmp, nbdkit }) => {
    const src = path.join(tmp, 'src.raw');
    const dst = path.join(tmp, 'dst.raw');
    const dst2 = path.join(tmp, 'dst2.raw');
    await makeRaw(src, 8, 11);
    await copy({ source: src, target: dst });
    await copy({ source: src, target: dst2 });
    await qemuIo('raw', src, ['write -P 0x55 1000000 100000', 'write -z 3M 64k', 'write -P 0x00 4M 64k']);
    await run(['dd', 'if=/dev/urandom', `of=${src}`, 'bs=4096', 'seek=1500', 'count=3', 'conv=notrunc', 'status=none']);
    // As changed block tracking lists them, in any order, one overlapping another.
    const list = path.join(tmp, 'changed.json');
    await writeFile(
      list,
      JSON.stringify([r(4 * MiB, 64 * KiB), r(1000000, 100000), r(3 * MiB, 64 * KiB), r(1500 * 4096, 12288), r(1050000, 10)]),
    );
    const ranges = await rangesFromJsonFile(list);
    expect(ranges).toEqual([r(1000000, 100000), r(3 * MiB, 64 * KiB), r(4 * MiB, 64 * KiB), r(1500 * 4096, 12288)]);

    // A file target keeps what is outside the ranges.
    const stats = await copy({ source: src, target: dst, ranges });
    await compare(src, 'raw', dst, 'raw');
    expect(stats.bytesTotal).toBe(rangesTotal(ranges));
    expect(stats.bytesRead).toBeLessThanOrEqual(rangesTotal(ranges));

    // Without the source's extents every byte of the ranges is read, and only those.
    const target = await nbdkit(['file', dst2]);
    const s2 = await copy({ source: src, target: target.uri, ranges, options: { extents: false } });
    await target.stop();
    await compare(src, 'raw', dst2, 'raw');
    expect(s2.bytesRead).toBe(rangesTotal(ranges));

    // A new target file: the source's size, the ranges copied, zeroes elsewhere.
    const fresh = path.join(tmp, 'fresh.raw');
    await copy({ source: src, target: fresh, ranges });
    const [want, got] = [await readFile(src), await readFile(fresh)];
    expect(got.length).toBe(want.length);
    const expected = Buffer.alloc(want.length);
    for (const x of ranges) want.copy(expected, x.offset, x.offset, x.offset + x.length);
    expect(got.equals(expected)).toBe(true);
  });

  test("committing an overlay: its top layer's ranges into the base", async ({ tmp, qemuNbd, nbdkit }) => {
    const base = path.join(tmp, 'base.raw');
    const overlay = path.join(tmp, 'overlay.qcow2');
    await makeRaw(base, 8, 12);
    await qemuIo('raw', base, ['write -P 0x33 2M 2M']); // data under the overlay's zeroes
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
    await qemuIo('qcow2', overlay, ['write -P 0x77 1M 64k', 'write -z 2M 64k', 'write -P 0x99 5000 300', 'discard 3M 64k']);
    const srv = await qemuNbd(overlay, { format: 'qcow2', readonly: true, allocationDepth: true });
    const ranges = await rangesFromTopLayer(srv.uri);
    expect(ranges).toEqual([r(0, 64 * KiB), r(1 * MiB, 64 * KiB), r(2 * MiB, 64 * KiB), r(3 * MiB, 64 * KiB)]);
    // nbdkit, not qemu-nbd: qemu's image locks keep a backing file read-only.
    const target = await nbdkit(['file', base]);
    const stats = await copy({ source: srv.uri, target: target.uri, ranges });
    await srv.stop();
    await target.stop();
    await compare(overlay, 'qcow2', base, 'raw');
    // The two blocks holding data; the zeroed and discarded ones are zero extents.
    expect(stats.bytesRead).toBe(128 * KiB);
    expect(stats.bytesTotal).toBe(256 * KiB);

    const plain = await qemuNbd(overlay, { format: 'qcow2', readonly: true });
    await expect(rangesFromTopLayer(plain.uri)).rejects.toThrow(
      /: the server does not offer qemu:allocation-depth \(as qemu-nbd -A exports it\)$/,
    );
  });

  // Many small ranges: several to a piece (rangeSize 64 KiB), pieces shared
  // by two connections; then a target that takes only whole 64 KiB blocks
  // (nbdkit blocksize-policy fails any other request), so ranges round out.
  for (const block of [1, 64 * KiB]) {
    test(`scattered ranges over pieces and connections, target block ${block}`, async ({ nbdkit, tmp }) => {
      const size = 8 * MiB;
      // A file: sparse-random itself answers an unaligned read with other bytes.
      const file = path.join(tmp, 'src.raw');
      await makeRaw(file, 8, 5);
      const src = await nbdkit(['file', file], { readonly: true });
      const policy = block > 1 ? ['--filter=blocksize-policy'] : [];
      const policyArgs = block > 1 ? [`blocksize-minimum=${block}`, `blocksize-preferred=${block}`, 'blocksize-error-policy=error'] : [];
      const dst = await nbdkit([...policy, 'memory', `${size}`, ...policyArgs]);
      await run(['nbdcopy', '--', '[', 'nbdkit', 'pattern', `${size}`, ']', dst.uri]);
      const before = await readAll(dst.uri);
      const input = [...scatter(100, size, 42 + block), r(size - 1, 1), r(0, 1)];
      const stats = await copy({
        source: src.uri,
        target: dst.uri,
        ranges: input,
        options: { requestSize: 16 * KiB, rangeSize: 64 * KiB, connections: 2 },
      });
      const want = expected(before, await readAll(src.uri), input, block);
      expect((await readAll(dst.uri)).equals(want)).toBe(true);
      expect(stats.connections).toBe(2);
      let changed = 0;
      for (let i = 0; i < size; i += block) if (!want.subarray(i, i + block).equals(before.subarray(i, i + block))) changed += block;
      expect(stats.bytesTotal).toBeGreaterThanOrEqual(changed);
      expect(stats.bytesRead).toBeLessThanOrEqual(stats.bytesTotal);
      expect(stats.bytesTotal).toBeLessThan(size);
    });
  }

  test('a range beyond the source is refused in one line', async ({ nbdkit }) => {
    const src = await nbdkit(['pattern', `${MiB}`], { readonly: true });
    const dst = await nbdkit(['memory', `${MiB}`]);
    await expect(copy({ source: src.uri, target: dst.uri, ranges: [r(MiB - 10, 20)] })).rejects.toThrow(
      /^ranges: source nbd\+unix:.*: the range at offset 1048566 \(length 20\) ends beyond the source's size \(1048576 bytes\)$/,
    );
    await expect(copy({ source: src.uri, target: dst.uri, ranges: [r(0, 0)] })).rejects.toThrow(/^copy ranges: 0\.length: must be > 0$/);
  });
});
