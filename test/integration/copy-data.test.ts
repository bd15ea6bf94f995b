// Bytes are compared after every copy: dense, sparse, all-zero, odd sizes,
// zero-length; NBD, file and null: endpoints; multi-conn; targets that are
// and are not known to be zero; holes kept on a sparse file target.
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { test, readAll, run, sha256 } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli } from '../helpers/cli.js';

const MiB = 1024 * 1024;

describe.skipIf(!has('nbdkit') || !has('nbdcopy'))('copy: bytes', () => {
  const shapes: [string, string[]][] = [
    ['dense', ['random', `${8 * MiB}`]],
    ['sparse', ['sparse-random', `${32 * MiB}`, 'percent=30']],
    ['all-zero', ['memory', `${16 * MiB}`]],
    ['odd size', ['random', '1000001']],
    ['zero-length', ['memory', '0']],
  ];

  for (const [name, args] of shapes) {
    test(`${name}: NBD to NBD`, async ({ nbdkit }) => {
      const src = await nbdkit(args, { readonly: true });
      const size = (await readAll(src.uri)).length;
      const dst = await nbdkit(['memory', `${size}`]);
      const stats = await copy({ source: src.uri, target: dst.uri });
      expect(stats.size).toBe(size);
      expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
    });

    test(`${name}: NBD to a new file, small requests and ranges`, async ({ nbdkit, tmp }) => {
      const src = await nbdkit(args, { readonly: true });
      const out = path.join(tmp, 'out.img');
      await copy({ source: src.uri, target: out, options: { requestSize: 4096, rangeSize: 65536, sparse: 4096 } });
      const want = await readAll(src.uri);
      const got = await readFile(out);
      expect(got.length).toBe(want.length);
      expect(sha256(got)).toBe(sha256(want));
    });
  }

  test('sparse source keeps its holes in a sparse file target; --allocated fills them', async ({ nbdkit, tmp }) => {
    const src = await nbdkit(['sparse-random', `${32 * MiB}`, 'percent=10', 'seed=10', 'runlength=65536'], { readonly: true });
    const sparse = path.join(tmp, 'sparse.img');
    const full = path.join(tmp, 'full.img');
    const s1 = await copy({ source: src.uri, target: sparse });
    await copy({ source: src.uri, target: full, options: { allocated: true } });
    const want = sha256(await readAll(src.uri));
    expect(sha256(await readFile(sparse))).toBe(want);
    expect(sha256(await readFile(full))).toBe(want);
    const st = await stat(sparse);
    expect(st.blocks * 512).toBeLessThan(st.size / 2);
    expect(s1.bytesSkipped).toBeGreaterThan(st.size / 2);
    expect((await stat(full)).blocks * 512).toBeGreaterThanOrEqual(st.size);
  });

  test('zero runs inside data become holes when extents are ignored', async ({ nbdkit, tmp }) => {
    // nbdkit data: bytes at 0, 1 MiB and 3 MiB - 1; everything else zero.
    const src = await nbdkit(['data', 'data=1 @1048576 2 @3145727 3', `size=${3 * MiB}`], { readonly: true });
    const out = path.join(tmp, 'out.img');
    const stats = await copy({ source: src.uri, target: out, options: { extents: false } });
    expect(sha256(await readFile(out))).toBe(sha256(await readAll(src.uri)));
    expect(stats.bytesData).toBeLessThanOrEqual(3 * 4096);
    expect((await stat(out)).blocks * 512).toBeLessThanOrEqual(3 * 4096);
  });

  test('a target holding old data is overwritten exactly, holes zeroed', async ({ nbdkit }) => {
    const size = 16 * MiB;
    const src = await nbdkit(['sparse-random', `${size}`, 'percent=20', 'seed=7'], { readonly: true });
    const dst = await nbdkit(['memory', `${size}`]);
    await run(['nbdcopy', '--', '[', 'nbdkit', 'pattern', `${size}`, ']', dst.uri]);
    const stats = await copy({ source: src.uri, target: dst.uri });
    expect(stats.targetWasZero).toBe(false);
    expect(stats.bytesZeroed).toBeGreaterThan(0);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('a fresh memory target is known zero: holes are neither read nor written', async ({ nbdkit }) => {
    const size = 32 * MiB;
    const src = await nbdkit(['sparse-random', `${size}`, 'percent=25'], { readonly: true });
    const dst = await nbdkit(['memory', `${size}`]);
    const stats = await copy({ source: src.uri, target: dst.uri });
    expect(stats.targetWasZero).toBe(true);
    expect(stats.bytesZeroed).toBe(0);
    expect(stats.bytesData + stats.bytesSkipped).toBe(size);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('multi-conn: both ends allow it, so several connections copy', async ({ nbdkit }) => {
    const size = 24 * MiB;
    const src = await nbdkit(['random', `${size}`], { readonly: true });
    const dst = await nbdkit(['memory', `${size}`]);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { connections: 3, rangeSize: 4 * MiB } });
    expect(stats.connections).toBe(3);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('no multi-conn on the target: one connection', async ({ nbdkit }) => {
    const size = 8 * MiB;
    const src = await nbdkit(['random', `${size}`], { readonly: true });
    const dst = await nbdkit(['--filter=nocache', '--filter=multi-conn', 'memory', `${size}`, 'multi-conn-mode=disable']);
    const stats = await copy({ source: src.uri, target: dst.uri, options: { connections: 4, rangeSize: MiB } });
    expect(stats.connections).toBe(1);
    expect(sha256(await readAll(dst.uri))).toBe(sha256(await readAll(src.uri)));
  });

  test('file to file and file to null:', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    const b = path.join(tmp, 'b.img');
    const data = Buffer.alloc(5 * MiB + 123);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i + 1, i);
    await writeFile(a, data);
    await copy({ source: a, target: b });
    expect(sha256(await readFile(b))).toBe(sha256(data));
    const n = await copy({ source: a, target: 'null:' });
    expect(n.size).toBe(data.length);
  });

  test.skipIf(!has('qemu-nbd') || !has('qemu-img'))('to a qcow2 target behind qemu-nbd', async ({ nbdkit, qemuNbd, tmp }) => {
    const size = 16 * MiB;
    const src = await nbdkit(['sparse-random', `${size}`, 'percent=40'], { readonly: true });
    const q = path.join(tmp, 'out.qcow2');
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', q, `${size}`]);
    const dst = await qemuNbd(q, { format: 'qcow2' });
    await copy({ source: src.uri, target: dst.uri });
    await dst.stop();
    const raw = path.join(tmp, 'src.raw');
    await writeFile(raw, await readAll(src.uri));
    await run(['qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', raw, q]);
  });

  test('CLI: `[ nbdkit ... ]` source to a file, --stats', async ({ tmp }) => {
    const out = path.join(tmp, 'out.img');
    const r = await runCli(['copy', '--stats', '--', '[', 'nbdkit', 'pattern', `${4 * MiB}`, ']', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^copied 4\.0 MiB/);
    const got = await readFile(out);
    // nbdkit pattern: each 8-byte word holds its own offset, big-endian.
    expect(got.readBigUInt64BE(8 * 1000)).toBe(8000n);
    expect(got.readBigUInt64BE(got.length - 8)).toBe(BigInt(got.length - 8));
  });
});
