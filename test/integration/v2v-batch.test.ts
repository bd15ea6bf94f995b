// `v2v batch PLAN`: many guests at once (--no-convert, so no appliance),
// one of them failing: the others complete byte for byte, every event names
// its guest, the copy limit holds, each guest has its log dir, the summary
// and the last stderr line name the failed guest; Ctrl-C during a batch
// leaves no server, no work dir and no partial disk.
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { BatchEvent } from '../../src/batch/events.js';
import { batchEvents } from '../helpers/batch.js';
import { makeRaw, processesUsing, run, sha256File, test } from '../helpers/fixtures.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy');

async function qcow2(tmp: string, name: string, sizeMiB: number, seed: number): Promise<string> {
  const raw = path.join(tmp, `${name}.raw`);
  const q = path.join(tmp, `${name}.qcow2`);
  await makeRaw(raw, sizeMiB, seed);
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, q]);
  return q;
}

/** The most copies that were in flight at once, from the event stream. */
function maxCopiesInFlight(events: BatchEvent[]): number {
  let now = 0;
  let max = 0;
  for (const e of events) {
    if (e.type === 'copy.started') max = Math.max(max, ++now);
    if (e.type === 'copy.finished') now--;
  }
  return max;
}

describe.skipIf(needs)('v2v batch', () => {
  test('four guests, one failing: the others complete, events name their guest, logs per guest', async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    const logs = path.join(tmp, 'logs');
    const out1 = path.join(tmp, 'out1');
    const out4 = path.join(tmp, 'out4');
    for (const d of [work, out1, out4]) await mkdir(d);
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 96, 1);
    const b = await qcow2(tmp, 'b', 48, 2);
    const c = await qcow2(tmp, 'c', 64, 3);
    const d = path.join(tmp, 'd.img');
    await makeRaw(d, 80, 4);
    const before = await Promise.all([a, b, c, d].map(sha256File));
    const plan = path.join(tmp, 'plan.json');
    await writeFile(
      plan,
      JSON.stringify({
        guests: [
          { id: 'g1', args: ['-i', 'disk', a, b, '-o', 'local', '-os', out1, '-on', 'one', '--no-convert'] },
          { id: 'g2', options: { input: { type: 'disk', files: [c] }, output: { type: 'null' }, noConvert: true } },
          { id: 'g3', args: ['-i', 'disk', path.join(tmp, 'missing.img'), '-o', 'null', '--no-convert'] },
          { id: 'g4', args: ['-i', 'disk', 'd.img', '-o', 'local', '-os', 'out4', '-of', 'qcow2', '-on', 'four', '--no-convert'] },
        ],
        limits: { copies: 2 },
      }),
    );

    const r = await runCli(['batch', plan, '--machine-readable', '--log-dir', logs], { env: { TMPDIR: work } });
    expect(r.code).toBe(1);
    expect(stderrLines(r).at(-1)).toBe('v2v: error: batch: 1 of 4 guests failed: g3');

    // Every line is a BatchEvent; every job event names its guest.
    const events = batchEvents(r.stdout);
    const jobEvents = events.filter((e) => /^(step|copy)\./.test(e.type) || e.type === 'error');
    expect(jobEvents.length).toBeGreaterThan(20);
    for (const e of jobEvents) expect(['g1', 'g2', 'g3', 'g4']).toContain((e as { guest?: string }).guest);
    const copied = (g: string) => jobEvents.filter((e) => e.type === 'copy.finished' && e.guest === g).map((e) => (e as { disk: string }).disk);
    expect(copied('g1').sort()).toEqual(['sda', 'sdb']);
    expect(copied('g2')).toEqual(['sda']);
    expect(copied('g4')).toEqual(['sda']);
    expect(maxCopiesInFlight(events)).toBeLessThanOrEqual(2);
    const ends = events.filter((e) => e.type === 'guest.finished' || e.type === 'guest.failed');
    expect(ends.map((e) => `${e.guest} ${e.type}`).sort()).toEqual(['g1 guest.finished', 'g2 guest.finished', 'g3 guest.failed', 'g4 guest.finished']);
    expect(ends.find((e) => e.guest === 'g3')).toMatchObject({ error: expect.stringMatching(/^input: .*missing\.img/) });

    // The result, in the last event: bytes written per guest, the files.
    const last = events.at(-1)!;
    expect(last.type).toBe('batch.finished');
    const results = (last as Extract<BatchEvent, { type: 'batch.finished' }>).guests;
    expect(results.map((g) => [g.id, g.ok])).toEqual([['g1', true], ['g2', true], ['g3', false], ['g4', true]]);
    expect(results[0]!.files.sort()).toEqual([path.join(out1, 'one-sda'), path.join(out1, 'one-sdb'), path.join(out1, 'one.xml')]);
    for (const g of [results[0]!, results[1]!, results[3]!]) expect(g.bytes).toBeGreaterThan(0);

    // The outputs are complete and the same bytes as their sources, which are untouched.
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out1, 'one-sda')]);
    await run(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'raw', b, path.join(out1, 'one-sdb')]);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', d, path.join(out4, 'four-sda')]);
    expect((await readdir(out4)).sort()).toEqual(['four-sda', 'four.xml']);
    expect(await Promise.all([a, b, c, d].map(sha256File))).toEqual(before);

    // A log dir per guest; the failed one's says why.
    expect((await readdir(logs)).sort()).toEqual(['g1', 'g2', 'g3', 'g4']);
    await access(path.join(logs, 'g1', 'copy-sdb.log'));
    const g3 = JSON.parse(await readFile(path.join(logs, 'g3', 'result.json'), 'utf8')) as { ok: boolean; error: string };
    expect(g3).toMatchObject({ ok: false, error: expect.stringContaining('missing.img') });
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });

  test('YAML plan, human output: lines prefixed with the guest, the summary table', async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    await mkdir(work);
    await run(['nbdcopy', '--', '[', 'nbdkit', 'random', `${16 * MiB}`, ']', path.join(tmp, 'x.img')]);
    const plan = path.join(tmp, 'plan.yaml');
    await writeFile(
      plan,
      ['guests:', '  - id: x', '    args: [-i, disk, x.img, -o, "null", --no-convert]', '  - id: y', '    args: [-i, disk, nope.img, -o, "null", --no-convert]', ''].join('\n'),
    );
    const r = await runCli(['batch', plan], { env: { TMPDIR: work } });
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain('[x] started');
    expect(lines.some((l) => /^\[x\] \[\s+[\d.]+\] Setting up the source: -i disk /.test(l))).toBe(true);
    expect(lines.some((l) => /^\[y\] failed: input: .*nope\.img/.test(l))).toBe(true);
    const table = lines.slice(lines.findIndex((l) => /^guest\s+result\s+time\s+bytes$/.test(l)));
    expect(table[1]).toMatch(/^x\s+ok\s+[\d.]+ s\s+16\.0 MiB$/);
    expect(table[2]).toMatch(/^y\s+failed\s+[\d.]+ s\s+0 B$/);
    expect(table[3]).toMatch(/^batch: 1 of 2 guests converted in [\d.]+ s$/);
    expect(stderrLines(r)).toEqual(['v2v: error: batch: 1 of 2 guests failed: y']);
    // Only the failed guest's private log dir may stay (kept on failure, as by `v2v`).
    expect((await readdir(work)).every((d) => d.startsWith('v2v-log-'))).toBe(true);
  });

  test('a bad plan is one line naming the guest', async ({ tmp }) => {
    const plan = path.join(tmp, 'plan.json');
    await writeFile(plan, JSON.stringify({ guests: [{ id: 'ok', args: ['-i', 'disk', 'a.img'] }, { id: 'ok', args: ['-i', 'disk', 'b.img'] }] }));
    const r = await runCli(['batch', plan]);
    expect(r.code).toBe(1);
    expect(stderrLines(r)).toEqual([`v2v: error: ${plan}: guest ok: id: id used twice (guests 1 and 2)`]);
    const none = await runCli(['batch']);
    expect(none.code).toBe(1);
    expect(stderrLines(none)).toEqual(["v2v: error: batch: missing required argument 'plan'"]);
  });

  test('SIGINT during a batch: every guest stops, nothing left', async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    await mkdir(work);
    await mkdir(out);
    const guests = [];
    for (const id of ['p', 'q', 'r']) {
      const disk = path.join(tmp, `${id}.img`);
      await run(['nbdcopy', '--', '[', 'nbdkit', 'random', `${256 * MiB}`, `seed=${id.charCodeAt(0)}`, ']', disk]);
      guests.push({ id, args: ['-i', 'disk', disk, '-o', 'local', '-os', out, '-on', id, '--no-convert'] });
    }
    const plan = path.join(tmp, 'plan.json');
    // 3 x 256 MiB at 96 MiB/s in all: the batch lasts long enough to be interrupted.
    await writeFile(plan, JSON.stringify({ guests, limits: { copies: 2, bandwidth: 96 * MiB } }));
    let pid = 0;
    const started = Date.now();
    const r = await runCli(['batch', plan, '--machine-readable'], {
      env: { TMPDIR: work },
      onSpawn: (x) => (pid = x),
      onStdout: (chunk) => {
        if (chunk.includes('"copy.progress"') && pid) {
          process.kill(pid, 'SIGINT');
          pid = 0;
        }
      },
    });
    expect(r.code).toBe(130);
    expect(stderrLines(r).at(-1)).toBe('v2v: batch: cancelled');
    expect(Date.now() - started).toBeLessThan(30_000);
    const failed = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; guest?: string; cancelled?: boolean })
      .filter((e) => e.type === 'guest.failed');
    expect(failed.map((e) => [e.guest, e.cancelled]).sort()).toEqual([['p', true], ['q', true], ['r', true]]);
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });
});
