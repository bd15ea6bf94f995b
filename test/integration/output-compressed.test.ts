// -oo compressed (virt-v2v's compressed qcow2 output, issue 10): the copier
// writes through qemu's compress filter, which takes only whole 64 KiB
// clusters, each once; data at odd offsets (a hello at 70000, a block that
// straddles clusters) must still land, in compressed clusters.
import { mkdir, readdir, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { compressedImageOpts } from '../../src/steps/output/compressed.js';
import { runCli, expectOneError } from '../helpers/cli.js';
import { test, run, sha256File } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;

/** A raw disk of SIZE bytes: a few bytes at 70000, compressible text across 10 MB + 1, random bytes after. */
async function oddDisk(file: string, size: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(size);
    await fh.write(Buffer.from('hello'), 0, 5, 70_000);
    await fh.write(Buffer.from('compressible '.repeat(80_000)), 0, 13 * 80_000, 10_000_001);
    const random = Buffer.alloc(300_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    await fh.write(random, 0, random.length, 20 * MiB + 3);
  } finally {
    await fh.close();
  }
}

async function compressedClusters(qcow2: string): Promise<number> {
  const info = JSON.parse(await run(['qemu-img', 'check', '--output=json', qcow2])) as { 'compressed-clusters'?: number; corruptions?: number };
  expect(info.corruptions ?? 0).toBe(0);
  return info['compressed-clusters'] ?? 0;
}

describe.skipIf(!has('qemu-nbd') || !has('qemu-img') || !has('nbdkit'))('-oo compressed', () => {
  test('copy() into qemu-nbd with the compress filter: unaligned data lands whole, in compressed clusters', async ({ tmp, qemuNbd }) => {
    const src = path.join(tmp, 'src.img');
    const dst = path.join(tmp, 'dst.qcow2');
    await oddDisk(src, 64 * MiB);
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', dst, String(64 * MiB)]);
    const server = await qemuNbd(compressedImageOpts(dst), { imageOpts: true });
    // Small requests and a 4 KiB sparse block ask for writes the filter refuses; the copier rounds them to its 64 KiB.
    await copy({ source: src, target: server.uri, options: { requestSize: 4096, sparse: 4096 } });
    await server.stop();
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', src, dst]);
    expect(await compressedClusters(dst)).toBeGreaterThan(0);
  });

  test('v2v -o local -of qcow2 -oo compressed --no-convert: the disk is compressed and equal to the source', async ({ tmp }) => {
    const src = path.join(tmp, 'src.img');
    const out = path.join(tmp, 'out');
    await mkdir(out);
    await oddDisk(src, 64 * MiB);
    const before = await sha256File(src);
    const r = await runCli(['-i', 'disk', src, '-o', 'local', '-os', out, '-of', 'qcow2', '-oo', 'compressed', '-on', 'g', '--no-convert', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['g-sda', 'g.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', src, path.join(out, 'g-sda')]);
    expect(await compressedClusters(path.join(out, 'g-sda'))).toBeGreaterThan(0);
    expect(await sha256File(src)).toBe(before);
  });

  test('refused in one line, nothing written: raw, preallocated, -o null, a disk size qemu cannot compress', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const odd = path.join(tmp, 'odd.img');
    await writeFile(odd, Buffer.alloc(MiB + 512, 1));
    const d = ['-i', 'disk', odd, '-on', 'g', '--no-convert'];
    expectOneError(await runCli([...d, '-o', 'local', '-os', out, '-oo', 'compressed']), 'v2v: error: ‘-oo compressed’ is only allowed when the output format is a local qcow2-format file, i.e. ‘-of qcow2’');
    expectOneError(await runCli([...d, '-o', 'qemu', '-os', out, '-of', 'qcow2', '-oa', 'preallocated', '-oo', 'compressed']), 'cannot be used with ‘-oa preallocated’');
    expectOneError(await runCli([...d, '-o', 'null', '-oo', 'compressed']), 'v2v: error: no -oo (output options) are allowed here');
    expectOneError(await runCli([...d, '-o', 'local', '-os', out, '-of', 'qcow2', '-oo', 'compressed=maybe']), '-oo compressed=maybe: expected true or false');
    const r = await runCli([...d, '-o', 'local', '-os', out, '-of', 'qcow2', '-oo', 'compressed', '-q']);
    expectOneError(r, `disk 0 is ${MiB + 512} bytes, not a multiple of qcow2's 64 KiB cluster`);
    expect(await readdir(out)).toEqual([]);
    // compressed=false is the default output.
    const plain = await runCli([...d, '-o', 'local', '-os', out, '-of', 'qcow2', '-oo', 'compressed=false', '-q']);
    expect(plain.code).toBe(0);
    expect(await compressedClusters(path.join(out, 'g-sda'))).toBe(0);
  });
});
