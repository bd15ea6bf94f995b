// Warm migration's rounds without a conversion (issue 11): `v2v warm begin`
// copies everything once, then each `v2v warm sync` reads only what
// changed: from a qcow2 source's persistent dirty bitmap (qemu-nbd -B), or
// from a JSON extent list per disk on a raw source. After every round the
// target equals the source (qemu-img compare), and the round's own figures
// say that only the changes were read. A sync killed mid-round and run
// again ends equal too. The whole flow with the cutover's conversion is in
// test/e2e/warm-sample.test.ts.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { run } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { test } from '../helpers/fixtures.js';

const MiB = 1024 * 1024;
const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('qemu-io');

interface Round {
  n: number;
  kind: string;
  bytesChanged: number;
  bytesRead: number;
}

async function rounds(state: string): Promise<Round[]> {
  return (JSON.parse(await readFile(state, 'utf8')) as { rounds: Round[] }).rounds;
}

async function ok(args: string[]): Promise<void> {
  const r = await runCli(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/**
 * A migration given up before its cutover: `v2v cleanup` on the work dir the
 * state file names (kept between rounds) removes it and the partial target.
 */
async function abandon(state: string, out: string): Promise<void> {
  const { dir } = JSON.parse(await readFile(state, 'utf8')) as { dir: string };
  expect(await readdir(out)).toEqual(['.g-sda.v2v-partial']);
  await ok(['cleanup', dir]);
  expect(existsSync(dir)).toBe(false);
  expect(await readdir(out)).toEqual([]);
}

describe.skipIf(needs)('v2v warm: begin and sync rounds', () => {
  test('qcow2 source with a dirty bitmap: three rounds read only the changed clusters; a round with nothing changed reads nothing', async ({ tmp }) => {
    const src = path.join(tmp, 'src.qcow2');
    const out = path.join(tmp, 'out');
    const state = path.join(tmp, 'state.json');
    await mkdir(out);
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', src, String(64 * MiB)]);
    await run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x11 0 16M', '-c', 'write -P 0x12 40M 4M', src]);
    await run(['qemu-img', 'bitmap', '--add', src, 'b0']);
    await ok(['warm', 'begin', '--state', state, '-i', 'disk', src, '-o', 'local', '-os', out, '-of', 'qcow2', '-on', 'g']);
    const target = path.join(out, '.g-sda.v2v-partial');
    await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'qcow2', src, target]);
    const writes = [
      ['write -P 0x21 5M 64k', 'write -z 1M 64k', 'discard 2M 64k'],
      ['write -P 0x22 30M 1M', 'write -P 0x23 63M 64k'],
      ['write -z 0 1M'],
    ];
    for (const [i, cmds] of writes.entries()) {
      await run(['qemu-io', '-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), src]);
      await ok(['warm', 'sync', '--state', state, '--bitmap', `b${i}`]);
      await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'qcow2', src, target]);
      // The caller rotates the bitmap, as libvirt's checkpoints do.
      await run(['qemu-img', 'bitmap', '--remove', src, `b${i}`]);
      await run(['qemu-img', 'bitmap', '--add', src, `b${i + 1}`]);
    }
    const r = await rounds(state);
    expect(r.map((x) => x.kind)).toEqual(['begin', 'sync', 'sync', 'sync']);
    // Round 1 changed 3 clusters (one of data read, the zero and discarded ones not read).
    expect(r[1]!.bytesChanged).toBe(3 * 64 * 1024);
    expect(r[1]!.bytesRead).toBeLessThanOrEqual(64 * 1024);
    expect(r[2]!.bytesChanged).toBe(MiB + 64 * 1024);
    expect(r[2]!.bytesRead).toBe(MiB + 64 * 1024);
    expect(r[3]!.bytesChanged).toBe(MiB);
    for (const x of r.slice(1)) expect(x.bytesRead).toBeLessThan(2 * MiB);
    // Nothing changed since b3 was added: nothing read.
    await ok(['warm', 'sync', '--state', state, '--bitmap', 'b3']);
    expect((await rounds(state))[4]).toMatchObject({ bytesChanged: 0, bytesRead: 0 });
    await abandon(state, out);
  });

  test('raw source on an NBD server with --changed JSON lists; a bad list is refused before anything; a killed sync run again ends equal', async ({ tmp, nbdkit }) => {
    const src = path.join(tmp, 'src.img');
    const out = path.join(tmp, 'out');
    const state = path.join(tmp, 'state.json');
    await mkdir(out);
    await run(['truncate', '-s', String(64 * MiB), src]);
    await run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x11 0 8M', src]);
    // The source as a hypervisor's NBD export, slow enough (20 ms a read) that a round can be killed half-way.
    const serve = () => nbdkit(['--filter=delay', 'file', `file=${src}`, 'delay-read=20ms'], { readonly: true, name: 'source' });
    const server = await serve();
    await ok(['warm', 'begin', '--state', state, '-i', 'disk', server.uri, '-o', 'local', '-os', out, '-on', 'g']);
    const target = path.join(out, '.g-sda.v2v-partial');
    await run(['cmp', src, target]);
    await run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x33 1M 64k', '-c', 'write -P 0x44 40M 100k', '-c', 'write -P 0x55 10M 24M', src]);
    const changed = path.join(tmp, 'changed.json');
    const ranges = [{ offset: 40 * MiB, length: 102400 }, { offset: MiB, length: 65536 }, { offset: 10 * MiB, length: 24 * MiB }];
    await writeFile(changed, JSON.stringify(ranges));
    const changedBytes = ranges.reduce((a, r) => a + r.length, 0);
    const bad = path.join(tmp, 'bad.json');
    await writeFile(bad, JSON.stringify([{ offset: -1, length: 5 }]));
    expectOneError(await runCli(['warm', 'sync', '--state', state, '--changed', bad]), bad);
    expectOneError(await runCli(['warm', 'sync', '--state', state, '--changed', changed, '--changed', changed]), 'give one file per disk, in disk order: the guest has 1 disk, 2 given');
    expectOneError(await runCli(['warm', 'sync', '--state', state]), 'give --changed FILE (one per disk) or --bitmap NAME');
    // A sync killed (SIGKILL) while its copy runs (the warm dir's copy record
    // says so): the state file is as before; the same sync again.
    const dir = (JSON.parse(await readFile(state, 'utf8')) as { dir: string }).dir;
    const before = await readFile(state, 'utf8');
    let pid = 0;
    let ended = false;
    const killed = runCli(['warm', 'sync', '--state', state, '--changed', changed, '--machine-readable'], {
      onSpawn: (p) => (pid = p),
      // A progress event with bytes still to copy: the copy is under way.
      onStdout: (t) => {
        const midway = t.split('\n').some((l) => {
          const m = /"type":"warm.progress".*"done":(\d+),"total":(\d+)/.exec(l);
          return m !== null && Number(m[1]) < Number(m[2]);
        });
        if (midway && !ended) {
          ended = true;
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    const k = await killed;
    expect(k.signal).toBe('SIGKILL');
    // nbdkit 1.32's delay filter can abort on a client that vanishes mid-read
    // (connections.c: Assertion `sock >= 0'): a hypervisor's server would stay;
    // ours is started again on the same socket.
    await server.stop();
    await serve();
    expect(await readFile(state, 'utf8')).toBe(before);
    expect(JSON.parse(await readFile(path.join(dir, 'copy0.json'), 'utf8'))).toMatchObject({ state: 'running' });
    await ok(['warm', 'sync', '--state', state, '--changed', changed]);
    await run(['cmp', src, target]);
    const r = await rounds(state);
    expect(r).toHaveLength(2);
    expect(r.at(-1)).toMatchObject({ kind: 'sync', bytesChanged: changedBytes });
    expect(r.at(-1)!.bytesRead).toBeLessThanOrEqual(changedBytes);
    await abandon(state, out);
  });

  test('begin refuses an existing state file, -o null and -i ova, in one line, and leaves nothing', async ({ tmp }) => {
    const src = path.join(tmp, 'src.img');
    await run(['truncate', '-s', String(MiB), src]);
    const state = path.join(tmp, 'state.json');
    await writeFile(state, '{}');
    expectOneError(await runCli(['warm', 'begin', '--state', state, '-i', 'disk', src, '-o', 'local', '-os', tmp]), 'already exists');
    const s2 = path.join(tmp, 's2.json');
    expectOneError(await runCli(['warm', 'begin', '--state', s2, '-i', 'disk', src, '-o', 'null']), 'warm: -o null: warm migration writes -o local or -o qemu');
    expectOneError(await runCli(['warm', 'sync', '--state', s2, '--bitmap', 'x']), 'no such file (run v2v warm begin first)');
  });
});
