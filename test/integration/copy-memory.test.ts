// The copy's memory is bounded by --memory-budget (64 MiB by default)
// whatever -C, -R and --request-size say: `-C 8 -R 1024 --request-size 32M`
// took 650 MB of RSS on a 1 GiB disk before, nbdcopy 73 MB. Peak RSS is
// measured by /usr/bin/time (the child's getrusage ru_maxrss) and compared
// with a run with the default flags, whose 16 MiB of buffers leave Node, the
// addon and libnbd as the baseline (about 90 MiB here); either stays under
// 200 MiB (issue 12).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { v2vBin } from '../helpers/cli.js';
import { makeRaw, run, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const TIME = '/usr/bin/time';
/** Above baseline + budget: the baseline moves by a few MiB between runs, and pino, piscina and a second thread's heap are not in it. */
const SLACK = 48 * MiB;
/** Issue 12: a copy's peak RSS, whatever the flags. */
const MAX_RSS = 200 * MiB;

/** Peak RSS in bytes of one `v2v ARGS` run (which must succeed). */
async function peakRss(tmp: string, args: string[]): Promise<number> {
  const out = path.join(tmp, 'rss.txt');
  await run([TIME, '-f', '%M', '-o', out, process.execPath, v2vBin, ...args]);
  return Number((await readFile(out, 'utf8')).trim().split('\n').at(-1)) * 1024;
}

describe.skipIf(!has('nbdkit') || !has('nbdcopy') || !existsSync(TIME))('copy: memory budget', () => {
  test(
    '-C 8 -R 1024 --request-size 32M on a 1 GiB disk: peak RSS within the default run + 64 MiB and under 200 MiB, bytes equal, one log line',
    async ({ tmp }) => {
      const src = path.join(tmp, 'disk.img');
      await makeRaw(src, 1024, 11); // 8 ranges of 128 MiB, so all 8 connections run
      const baseline = await peakRss(tmp, ['copy', src, 'null:']);
      const out = path.join(tmp, 'out.img');
      const log = path.join(tmp, 'copy.log');
      const big = await peakRss(tmp, ['--log-file', log, 'copy', '-C', '8', '-R', '1024', '--request-size', '32M', src, out]);
      console.log(`peak RSS: default flags ${(baseline / MiB).toFixed(0)} MiB, -C 8 -R 1024 --request-size 32M ${(big / MiB).toFixed(0)} MiB`);
      expect(big).toBeLessThan(baseline + 64 * MiB + SLACK);
      expect(baseline).toBeLessThan(MAX_RSS);
      expect(big).toBeLessThan(MAX_RSS);
      expect(await sha256File(out)).toBe(await sha256File(src));
      const said = (await readFile(log, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; actor: string })
        .filter((e) => /memory budget/.test(e.msg));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatchObject({ actor: 'copy', msg: expect.stringMatching(/^lowered requests in flight per connection from 1024 to 1 and connections from 8 to 2:/) });
    },
    120_000,
  );
});
