// Whole-conversion wall time: `v2v -i disk GUEST -o local` against
// `virt-v2v -i disk GUEST -o local` on the same guest, in one run, taking
// turns (the order alternates run by run so that neither always gets the
// warm caches), each into a fresh output directory. Prints every run, the
// medians and the ratio virt-v2v / v2v. Never asserts anything: only a
// comparison made in one run on the same machine means something.
//
//   npm run bench:convert -- [--runs N] [--guest FILE] [--of raw|qcow2]
//
// Default guest: the project's sample (.cache/guests/debian12-sda.img).
// libguestfs runs on TCG unless LIBGUESTFS_BACKEND_SETTINGS says otherwise.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dir as tmpDir } from 'tmp-promise';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    guest: { type: 'string', default: path.join(root, '.cache', 'guests', 'debian12-sda.img') },
    of: { type: 'string', default: 'raw' },
  },
});
const runs = Number(values.runs);
const guest = path.resolve(values.guest);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: expected a whole number >= 1`);
if (!existsSync(guest)) throw new Error(`${guest}: no such guest (scripts/build-sample-guest.sh builds the sample)`);
if (values.of !== 'raw' && values.of !== 'qcow2') throw new Error(`--of ${values.of}: raw or qcow2`);

const env = {
  ...process.env,
  LIBGUESTFS_BACKEND_SETTINGS: process.env.LIBGUESTFS_BACKEND_SETTINGS ?? 'force_tcg',
};

interface Tool {
  name: string;
  argv: (out: string) => string[];
}
const tools: Tool[] = [
  {
    name: 'v2v',
    argv: (out) => [process.execPath, path.join(root, 'bin', 'v2v.js'), '-i', 'disk', guest, '-o', 'local', '-os', out, '-of', values.of!, '-on', 'bench'],
  },
  { name: 'virt-v2v', argv: (out) => ['virt-v2v', '-i', 'disk', guest, '-o', 'local', '-os', out, '-of', values.of!, '-on', 'bench'] },
];

function timeRun(argv: string[], workdir: string): Promise<{ seconds: number; code: number | null; tail: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const [cmd, ...args] = argv as [string, ...string[]];
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, TMPDIR: workdir } });
    let tail = '';
    const keep = (d: Buffer) => (tail = (tail + d.toString('utf8')).slice(-2000));
    c.stdout.on('data', keep);
    c.stderr.on('data', keep);
    c.on('error', reject);
    c.on('close', (code) => resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code, tail }));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const scratch = await tmpDir({ prefix: 'v2v-convert-bench-', unsafeCleanup: true });
try {
  const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  console.log(`guest ${guest} (${((await stat(guest)).size / 2 ** 30).toFixed(1)} GiB), -of ${values.of}, ${runs} run(s), LIBGUESTFS_BACKEND_SETTINGS=${env.LIBGUESTFS_BACKEND_SETTINGS}`);
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? tools : [...tools].reverse();
    for (const t of order) {
      const out = path.join(scratch.path, `${t.name}-${r}`);
      const work = path.join(scratch.path, `${t.name}-${r}-tmp`);
      await mkdir(out);
      await mkdir(work);
      const res = await timeRun(t.argv(out), work);
      if (res.code !== 0) throw new Error(`${t.name} failed (exit ${res.code}): ${res.tail}`);
      const files = (await readdir(out)).sort().join(' ');
      console.log(`run ${r + 1} ${t.name.padEnd(8)} ${res.seconds.toFixed(1).padStart(7)} s  (${files})`);
      times.get(t.name)!.push(res.seconds);
    }
  }
  const ours = median(times.get('v2v')!);
  const theirs = median(times.get('virt-v2v')!);
  console.log('');
  console.log('| tool | median s | runs |');
  console.log('|---|---|---|');
  for (const [name, xs] of times) console.log(`| ${name} | ${median(xs).toFixed(1)} | ${xs.map((x) => x.toFixed(1)).join(', ')} |`);
  console.log(`\nvirt-v2v / v2v = ${(theirs / ours).toFixed(2)} (above 1: we are faster)`);
} finally {
  await scratch.cleanup();
}
