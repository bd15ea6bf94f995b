// Copy throughput: our copy against its peers on the same nbdkit endpoints,
// in one run, in turn, medians of several runs. Prints MB/s, peak RSS and the
// ratio of each peer's time to ours. Never asserts wall time: machines are
// noisy, so only a comparison made in one run means anything.
//
//   npm run bench -- [--runs N] [--scenarios dense,sparse,zero] [--scale F] [--tools a,b] [--prefault GiB]
//
// Scenarios (REFERENCE.md / issue 2): a 2 GiB fully allocated disk (nbdkit
// memory filled from `random`), 4 GiB half data half holes (`sparse-random`),
// 4 GiB almost all zero. Sources are memory disks filled once, because the
// random plugins generate data slower than a copy moves it. Every run gets a
// fresh target memory disk. "v2v copy (engine)" is copy() called in this
// process with a warm worker pool, as a service embedding the engine runs it;
// "v2v copy (CLI)" is the whole `v2v copy` command, Node's start-up included.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dir as tmpDir } from 'tmp-promise';
import { copy } from '../src/copy/copy.js';
import { startNbdkit, type Server } from '../src/process/server.js';
import { createPool } from '../src/workers/pool.js';

const GiB = 1024 ** 3;
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
const v2vBin = path.join(root, 'bin', 'v2v.js');

interface Scenario {
  name: string;
  describe: string;
  size: number;
  fill: (size: number) => string[]; // nbdkit arguments of the generator
}

const SCENARIOS: Scenario[] = [
  { name: 'dense', describe: 'all data', size: 2 * GiB, fill: (s) => ['random', `${s}`] },
  { name: 'sparse', describe: 'half data, half holes', size: 4 * GiB, fill: (s) => ['sparse-random', `${s}`, 'percent=50'] },
  { name: 'zero', describe: 'almost all zero (1 % data)', size: 4 * GiB, fill: (s) => ['sparse-random', `${s}`, 'percent=1'] },
];

/** nbdcopy's best settings on a 2-core machine, found with --tune. */
const NBDCOPY_BEST = ['--connections=1', '--requests=64', '--request-size=1048576'];

interface Tool {
  name: string;
  /** Time one copy; returns seconds and peak RSS in KiB (or undefined). */
  run(src: string, dst: string): Promise<{ seconds: number; rssKiB?: number }>;
}

let rssFile = path.join(os.tmpdir(), `v2v-bench-rss-${process.pid}`); // moved into the bench's own dir in main()

async function timed(argv: string[]): Promise<{ seconds: number; rssKiB?: number }> {
  const useTime = existsSync('/usr/bin/time');
  const full = useTime ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...argv] : argv;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const c = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!useTime) return { seconds };
  const rssKiB = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
  return { seconds, rssKiB };
}

async function sha256Of(uri: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const c = spawn('nbdcopy', [uri, '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
    c.stdout.on('data', (d: Buffer) => h.update(d));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nbdcopy ${uri} -: exit ${code}`))));
  });
  return h.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The engine's settled request sizes and time, each run. */
const chosen: string[] = [];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      scenarios: { type: 'string', default: SCENARIOS.map((s) => s.name).join(',') },
      tools: { type: 'string' },
      scale: { type: 'string', default: '1' },
      verify: { type: 'boolean', default: true },
      tune: { type: 'boolean', default: false },
      'tune-engine': { type: 'boolean', default: false },
      prefault: { type: 'string', default: '0' },
    },
  });
  // In a VM, memory the guest touches for the first time can cost far more
  // than memory it reuses (seen here: 20 GiB took 68 s of system time), and
  // fresh target disks land on such memory at random. --prefault=GiB touches
  // that much once, so that runs measure the copy and not the hypervisor.
  for (let i = 0; i < Number(values.prefault); i++) Buffer.allocUnsafeSlow(2 ** 30).fill(1);
  const runs = Math.max(1, Number(values.runs));
  const scale = Number(values.scale);
  const wanted = new Set(values.scenarios!.split(','));
  const { path: dir, cleanup } = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-bench-' });
  rssFile = path.join(dir, 'rss');
  const pool = createPool('copy-worker', { maxThreads: 1, minThreads: 1 });
  const servers: Server[] = [];
  try {
    const tools: Tool[] = [
      {
        name: 'v2v copy (engine)',
        run: async (src, dst) => {
          const t0 = process.hrtime.bigint();
          const stats = await copy({ source: src, target: dst, pool });
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          chosen.push(`${stats.requestSizes.map((b) => `${b / 1024}K`).join('+')} ${seconds.toFixed(2)}s`);
          return { seconds };
        },
      },
      { name: 'v2v copy (CLI)', run: (src, dst) => timed([process.execPath, v2vBin, 'copy', src, dst]) },
      { name: 'nbdcopy (defaults)', run: (src, dst) => timed(['nbdcopy', src, dst]) },
      { name: `nbdcopy (${NBDCOPY_BEST.join(' ')})`, run: (src, dst) => timed(['nbdcopy', ...NBDCOPY_BEST, src, dst]) },
      {
        name: 'qemu-img convert -n',
        run: (src, dst) => timed(['qemu-img', 'convert', '-n', '-f', 'raw', '-O', 'raw', src, dst]),
      },
    ];
    if (values.tune) {
      for (const args of [[], ['-C', '1'], ['-C', '2'], ['-C', '1', '-R', '64', '--request-size=1048576'], ['-C', '2', '-R', '16'], ['--request-size=1048576']]) {
        tools.push({ name: `nbdcopy ${args.join(' ')}`, run: (src, dst) => timed(['nbdcopy', ...args, src, dst]) });
      }
    }
    if (values['tune-engine']) {
      // Fixed sizes (maxRequestSize = requestSize): what the tuner chooses among.
      const variants: [number, number, number][] = [
        [1, 32, 128 * 1024],
        [1, 32, 256 * 1024],
        [1, 16, 1024 * 1024],
        [1, 8, 2 * 1024 * 1024],
        [2, 16, 1024 * 1024],
      ];
      for (const [connections, requests, requestSize] of variants) {
        tools.push({
          name: `v2v copy (engine -C ${connections} -R ${requests} --request-size ${requestSize / 1024}K, fixed)`,
          run: async (src, dst) => {
            const t0 = process.hrtime.bigint();
            await copy({ source: src, target: dst, pool, options: { connections, requests, requestSize, maxRequestSize: requestSize } });
            return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
          },
        });
      }
    }
    const selected = values.tools ? tools.filter((t) => values.tools!.split(',').some((n) => t.name.includes(n))) : tools;
    console.log(
      `# copy benchmark: ${os.cpus().length} cores, node ${process.version}, ${runs} runs each (median), scale ${scale}`,
    );
    let n = 0;
    for (const sc of SCENARIOS.filter((s) => wanted.has(s.name))) {
      const size = Math.round((sc.size * scale) / 1048576) * 1048576;
      const src = await startNbdkit(['memory', `${size}`], { dir, name: `src-${sc.name}` });
      servers.push(src);
      await timed(['nbdcopy', '--', '[', 'nbdkit', ...sc.fill(size), ']', src.uri]);
      const want = values.verify ? await sha256Of(src.uri) : '';
      const results = new Map<string, { secs: number[]; rss: number[] }>();
      // Round-robin so that drift in the machine's load hits every tool alike;
      // round 0 is a warm-up (and the byte check), not counted.
      for (let round = 0; round <= runs; round++) {
        for (const tool of selected) {
          const dst = await startNbdkit(['memory', `${size}`], { dir, name: `dst-${++n}` });
          try {
            const r = await tool.run(src.uri, dst.uri);
            if (round === 0) {
              if (values.verify && (await sha256Of(dst.uri)) !== want) throw new Error(`${tool.name}: target differs from source`);
              continue;
            }
            const e = results.get(tool.name) ?? { secs: [], rss: [] };
            e.secs.push(r.seconds);
            if (r.rssKiB !== undefined) e.rss.push(r.rssKiB);
            results.set(tool.name, e);
          } finally {
            await dst.stop();
          }
        }
      }
      // The tuner's choice in each run (the warm-up round's first).
      console.log(`\n(engine's request sizes, each run: ${chosen.splice(0).join(', ')})`);
      const ours = (name: string) => median(results.get(name)?.secs ?? [NaN]);
      const engine = ours('v2v copy (engine)');
      const cli = ours('v2v copy (CLI)');
      console.log(`\n## ${sc.name}: ${(size / GiB).toFixed(2)} GiB, ${sc.describe}${values.verify ? ', bytes verified' : ''}`);
      console.log('| tool | median s | MB/s | peak RSS MiB | peer time / engine time | peer time / CLI time |');
      console.log('|---|---|---|---|---|---|');
      for (const [name, e] of results) {
        const t = median(e.secs);
        const rss = e.rss.length ? (Math.max(...e.rss) / 1024).toFixed(0) : '-';
        const mine = name.startsWith('v2v');
        console.log(
          `| ${name} | ${t.toFixed(3)} | ${(size / 1e6 / t).toFixed(0)} | ${rss} | ${mine ? '' : (t / engine).toFixed(2)} | ${mine ? '' : (t / cli).toFixed(2)} |`,
        );
      }
      await src.stop();
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await pool.destroy();
    await cleanup();
  }
}

await main();
