// The libguestfs appliance's launch (issue 12): libguestfs' standard
// appliance (supermin's check, then a bzImage that decompresses itself)
// against the fast one a conversion boots (src/steps/convert/appliance.ts:
// the same appliance, fixed, its kernel unpacked and booted through PVH).
// Each launch is `guestfish -a /dev/null set-smp 2 : run`, as many vCPUs as
// virt-v2v gives its appliance on this machine; the two kinds take turns.
// Prints each time and the medians in seconds. Never asserts anything.
// libguestfs runs on TCG unless LIBGUESTFS_BACKEND_SETTINGS says otherwise.
//
//   npm run bench:appliance -- [--runs N]
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { fastAppliance } from '../src/steps/convert/appliance.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '4' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: expected a whole number >= 1`);
const cacheRoot = process.env.LIBGUESTFS_CACHEDIR ?? '/var/tmp';
const env = { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: process.env.LIBGUESTFS_BACKEND_SETTINGS ?? 'force_tcg', LIBGUESTFS_CACHEDIR: cacheRoot };
const launch = (extra: Record<string, string>): number => {
  const t = process.hrtime.bigint();
  execFileSync('guestfish', ['-a', '/dev/null', 'set-smp', String(Math.min(8, availableParallelism())), ':', 'run'], { env: { ...env, ...extra }, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t) / 1e9;
};

launch({}); // libguestfs' own appliance built and current: what the fast one is made from
const made = await fastAppliance(cacheRoot, pino({ level: 'silent' }));
if ('why' in made) throw new Error(`no fast appliance: ${made.why}`);
const times = { standard: [] as number[], fast: [] as number[] };
for (let i = 0; i < runs; i++) {
  for (const kind of i % 2 === 0 ? (['standard', 'fast'] as const) : (['fast', 'standard'] as const)) {
    times[kind].push(launch(kind === 'fast' ? { LIBGUESTFS_PATH: made.dir } : {}));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| appliance | launches (s) | median s |\n|---|---|---|`);
for (const [k, xs] of Object.entries(times)) console.log(`| ${k} | ${xs.map((x) => x.toFixed(1)).join(', ')} | ${median(xs).toFixed(1)} |`);
console.log(`\nfast / standard: ${(median(times.fast) / median(times.standard)).toFixed(2)}`);
