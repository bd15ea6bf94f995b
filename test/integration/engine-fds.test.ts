// A service embeds the engine and runs job after job in one process: every
// log file, socket and pipe a job opens is closed when it ends. 20 jobs
// (--no-convert, -o null: input overlays, convert, output, copy, cleanup,
// each step with its log file) leave the process's open descriptors where
// they were: one descriptor left by each job would show as 20 more.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import { optionsFromArgs } from '../../src/engine/from-args.js';
import { makeRaw, processesUsing, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const openFds = () => readdirSync('/proc/self/fd').length;

describe.skipIf(!has('nbdkit') || !has('qemu-img'))('engine: descriptors', () => {
  test('20 jobs in one process leave the number of open descriptors where it was', { timeout: 600_000 }, async ({ tmp }) => {
    const disk = path.join(tmp, 'g.img');
    await makeRaw(disk, 4, 7);
    const engine = createEngine({ workParent: tmp });
    const logDir = path.join(tmp, 'logs');
    const job = (i: number) =>
      engine.convert({ ...optionsFromArgs(['-i', 'disk', disk, '-o', 'null', '--no-convert']), logDir: path.join(logDir, String(i)) });
    // The first job loads the addon and warms the pools' modules: count after it.
    await job(0);
    const before = openFds();
    for (let i = 1; i <= 20; i++) {
      const r = await job(i);
      expect(r.timings.copy).toBeGreaterThanOrEqual(0);
      expect(r.copies[0]!.stats.size).toBe(4 * 1024 * 1024);
    }
    expect(openFds()).toBe(before);
    await engine.close();
    expect(readdirSync(tmp).sort()).toEqual(['g.img', 'logs']);
    expect(processesUsing(tmp)).toEqual([]);
  });
});
