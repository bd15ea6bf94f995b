// Warm guests in a batch (issue 11): a plan whose entries run warm rounds
// (`warm: {state, round}`) beside an ordinary guest, through `v2v batch`:
// begin copies each warm guest's disk once, a second plan syncs only the
// changed ranges (a JSON extent list per disk, paths relative to the plan);
// after each plan the targets equal the sources, the state files count the
// rounds and the batch's events name each guest's round. Plans that mix the
// fields up are refused in one line. The cutover's conversion is the same
// engine.warm.cutover as `v2v warm cutover` (test/e2e/warm-sample.test.ts).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { BatchEvent } from '../../src/batch/events.js';
import { batchEvents } from '../helpers/batch.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { makeRaw, run, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-io');

interface Round {
  kind: string;
  bytesChanged: number;
  bytesRead: number;
}

const roundsOf = async (state: string): Promise<Round[]> => (JSON.parse(await readFile(state, 'utf8')) as { rounds: Round[] }).rounds;

describe.skipIf(needs)('v2v batch with warm guests', () => {
  test('begin for two warm guests beside a conversion, then a sync plan: only the changes copied, targets equal', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    // The warm work dirs (kept between rounds) go there, and with the test.
    await mkdir(work);
    const env = { TMPDIR: work };
    for (const g of ['w1', 'w2', 'c1']) await makeRaw(path.join(tmp, `${g}.img`), 16, g.charCodeAt(1));
    const begin = path.join(tmp, 'begin.json');
    await writeFile(
      begin,
      JSON.stringify({
        guests: [
          { id: 'w1', warm: { state: 'w1.state', round: 'begin' }, args: ['-i', 'disk', 'w1.img', '-o', 'local', '-os', 'out', '-on', 'w1'] },
          { id: 'w2', warm: { state: 'w2.state', round: 'begin' }, args: ['-i', 'disk', 'w2.img', '-o', 'local', '-os', 'out', '-on', 'w2'] },
          { id: 'c1', args: ['-i', 'disk', 'c1.img', '-o', 'local', '-os', 'out', '-on', 'c1', '--no-convert'] },
        ],
      }),
    );
    const r1 = await runCli(['batch', begin, '--machine-readable'], { env });
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const events1 = batchEvents(r1.stdout);
    const finishedRounds = (evs: BatchEvent[]) =>
      evs.flatMap((e) => (e.type === 'warm.round' && e.phase === 'finished' ? [`${e.guest}:${e.kind}:${e.round}`] : [])).sort();
    expect(finishedRounds(events1)).toEqual(['w1:begin:0', 'w2:begin:0']);
    for (const g of ['w1', 'w2']) {
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(tmp, `${g}.img`), path.join(out, `.${g}-sda.v2v-partial`)]);
    }
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(tmp, 'c1.img'), path.join(out, 'c1-sda')]);

    // Change w1 only; w2's list is empty.
    await run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x5a 2M 64k', '-c', 'write -z 8M 1M', path.join(tmp, 'w1.img')]);
    await writeFile(path.join(tmp, 'w1.changed.json'), JSON.stringify([{ offset: 2 * MiB, length: 64 * 1024 }, { offset: 8 * MiB, length: MiB }]));
    await writeFile(path.join(tmp, 'w2.changed.json'), '[]');
    const sync = path.join(tmp, 'sync.yaml');
    await writeFile(
      sync,
      ['guests:', '  - id: w1', '    warm: { state: w1.state, round: sync, changed: [w1.changed.json] }', '  - id: w2', '    warm: { state: w2.state, round: sync, changed: [w2.changed.json] }', ''].join('\n'),
    );
    const r2 = await runCli(['batch', sync, '--machine-readable'], { env });
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
    expect(finishedRounds(batchEvents(r2.stdout))).toEqual(['w1:sync:1', 'w2:sync:1']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(tmp, 'w1.img'), path.join(out, '.w1-sda.v2v-partial')]);
    const w1 = await roundsOf(path.join(tmp, 'w1.state'));
    expect(w1.map((x) => x.kind)).toEqual(['begin', 'sync']);
    expect(w1[1]).toMatchObject({ bytesChanged: 64 * 1024 + MiB });
    expect(w1[1]!.bytesRead).toBeLessThanOrEqual(64 * 1024);
    expect((await roundsOf(path.join(tmp, 'w2.state')))[1]).toMatchObject({ bytesChanged: 0, bytesRead: 0 });
  });

  test('plans that mix the fields up are refused in one line', async ({ tmp }) => {
    const plan = path.join(tmp, 'plan.json');
    const refused = async (guest: object, ...mentions: string[]) => {
      await writeFile(plan, JSON.stringify({ guests: [{ id: 'g', ...guest }] }));
      expectOneError(await runCli(['batch', plan]), ...mentions);
    };
    await refused({ warm: { state: 's', round: 'sync', changed: ['c.json'] }, args: ['-i', 'disk', 'a.img'] }, 'guest g', 'the state file holds the options');
    await refused({ warm: { state: 's', round: 'sync' } }, 'guest g', 'give "changed"');
    await refused({ warm: { state: 's', round: 'cutover', changed: ['c.json'], bitmap: 'b0' } }, 'guest g', 'give "changed"');
    await refused({ warm: { state: 's', round: 'begin' } }, 'guest g', 'give either "args" or "options"');
    await refused({ warm: { state: 's', round: 'begin', bitmap: 'b' }, args: ['-i', 'disk', 'a.img'] }, 'guest g', 'begin copies everything');
  });
});
