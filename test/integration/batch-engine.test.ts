// engine.convertMany: the batch as a library call. Two guests copied as
// they are under `copies: 1` and a bandwidth: the second guest's copy waits
// for the first's (at 8 MiB/s the first lasts seconds; the global view says
// who holds the slot), each copy gets the whole bandwidth as its rate, and
// the results count the bytes written.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { BatchEvent } from '../../src/batch/events.js';
import { createEngine } from '../../src/engine/engine.js';
import { optionsFromArgs } from '../../src/engine/from-args.js';
import { run, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;

describe.skipIf(!has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy'))('engine.convertMany', () => {
  test('copies: 1 and a bandwidth: one copy at a time, each at the whole rate', async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const disks = [path.join(tmp, 'a.img'), path.join(tmp, 'b.img')];
    await run(['nbdcopy', '--', '[', 'nbdkit', 'random', `${24 * MiB}`, ']', disks[0]!]);
    await run(['nbdcopy', '--', '[', 'nbdkit', 'random', `${16 * MiB}`, 'seed=2', ']', disks[1]!]);
    const events: BatchEvent[] = [];
    const engine = createEngine({ workParent: work });
    try {
      const r = await engine.convertMany(
        {
          guests: [
            { id: 'a', args: ['-i', 'disk', disks[0]!, '-o', 'null', '--no-convert'] },
            { id: 'b', options: optionsFromArgs(['-i', 'disk', disks[1]!, '-o', 'null', '--no-convert']) },
          ],
          limits: { copies: 1, bandwidth: 8 * MiB },
        },
        { onEvent: (e) => events.push(e) },
      );
      expect(r.failed).toEqual([]);
      expect(r.cancelled).toBe(false);
      expect(r.guests[0]).toMatchObject({ id: 'a', ok: true, bytes: 24 * MiB, files: [] });
      expect(r.guests[1]).toMatchObject({ id: 'b', ok: true, bytes: 16 * MiB });
      const copies = events.filter((e) => e.type === 'copy.started' || e.type === 'copy.finished').map((e) => `${e.type} ${e.guest}`);
      expect([copies.slice(0, 2), copies.slice(2)].map((pair) => pair[0]!.split(' ')[1] === pair[1]!.split(' ')[1])).toEqual([true, true]);
      const waiting = events.find((e) => e.type === 'slot.waiting');
      expect(waiting).toMatchObject({ slot: 'copy', disk: 'sda', host: 'local' });
      expect((waiting as { holders: string[]; guest: string }).holders).toEqual([(waiting as { guest: string }).guest === 'a' ? 'b' : 'a']);
      const granted = events.filter((e) => e.type === 'slot.granted' && e.slot === 'copy');
      expect(granted.map((e) => (e as { rateLimit?: number }).rateLimit)).toEqual([8 * MiB, 8 * MiB]);
      expect(events[0]!.type).toBe('batch.started');
      expect(events.at(-1)!.type).toBe('batch.finished');
    } finally {
      await engine.close();
    }
  });
});
