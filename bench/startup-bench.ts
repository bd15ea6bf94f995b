// Start-up: what running `v2v` costs before any work, against Node's own
// start-up and nbdcopy's, in one run, taking turns: `node -e 0`, `nbdcopy
// --version`, `v2v --version` (node bin/v2v.js) and the single-file binary's
// (dist/v2v, when built), then a whole `v2v copy` of an empty 1 GiB disk
// (nbdkit memory, Unix sockets) against nbdcopy's. Prints medians in ms.
// Never asserts anything.
//
//   npm run bench:startup -- [--runs N] [--binary FILE]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dir as tmpDir } from 'tmp-promise';
import { startNbdkit } from '../src/process/server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, binary: { type: 'string', default: path.join(root, 'dist', 'v2v') } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: expected a whole number >= 1`);

const v2v = [process.execPath, path.join(root, 'bin', 'v2v.js')];
const binary = existsSync(values.binary) ? [values.binary] : undefined;

function timeOnce(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr.toString().trim()}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-startup-' });
const servers = [
  await startNbdkit(['memory', '1G'], { dir: dir.path, name: 'src' }),
  await startNbdkit(['memory', '1G'], { dir: dir.path, name: 'dst' }),
];
try {
  const [src, dst] = servers.map((s) => s.uri);
  const rows: [string, string[]][] = [
    ['node -e 0', [process.execPath, '-e', '0']],
    ['nbdcopy --version', ['nbdcopy', '--version']],
    ['v2v --version (node bin/v2v.js)', [...v2v, '--version']],
    ...(binary ? [['v2v --version (dist/v2v)', [...binary, '--version']] as [string, string[]]] : []),
    ['nbdcopy, empty 1 GiB', ['nbdcopy', src!, dst!]],
    ['v2v copy, empty 1 GiB (node bin/v2v.js)', [...v2v, 'copy', src!, dst!]],
    ...(binary ? [['v2v copy, empty 1 GiB (dist/v2v)', [...binary, 'copy', src!, dst!]] as [string, string[]]] : []),
  ];
  for (const [, argv] of rows) timeOnce(argv); // warm the caches once
  const times = rows.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) rows.forEach(([, argv], j) => times[j]!.push(timeOnce(argv)));
  console.log(`# start-up: ${runs} runs each, in turn, node ${process.version}\n`);
  console.log('| command | median ms |\n|---|---|');
  rows.forEach(([name], j) => console.log(`| ${name} | ${median(times[j]!).toFixed(0)} |`));
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await dir.cleanup();
}
