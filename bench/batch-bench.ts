// Many guests at once against the same guests one after another, in one run.
//
//   npm run bench:batch -- [--quick] [--runs N] [--rate MiB/s] [--disk-size MiB] [--guest FILE]
//
// Four guests: two conversions of the sample guest (.cache/guests/
// debian12-sda.img, -o local, each into its own dir) and two guests copied
// as they are, each with two disks (--disk-size, default 512 MiB of random
// data) on a "remote datastore": one nbdkit per guest on 127.0.0.1 TCP,
// serving both its disks through the rate filter (--rate MiB/s for the
// whole datastore, default 32), read through a libvirt XML of NBD network
// disks.
//
// batch:  `v2v batch PLAN` with the four guests, default limits;
// serial: the same four one after another: `virt-v2v -i disk ... -o local`
//         for the conversions; virt-v2v has no --no-convert (a disk that is
//         not a guest it can inspect fails), so for the two others the
//         baseline is what virt-v2v's own copy step runs, nbdcopy, over
//         each disk in turn into a local file.
// --quick leaves the conversions out (a smoke run of a minute or two).
// Prints each run's wall times and the ratio batch / serial (the aim: at
// most 0.6). Never asserts: only a comparison in one run means anything.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dir as tmpDir } from 'tmp-promise';
import { freePort } from '../src/process/ports.js';
import { startNbdkit, type Server } from '../src/process/server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    rate: { type: 'string', default: '32' },
    'disk-size': { type: 'string', default: '512' },
    guest: { type: 'string', default: path.join(root, '.cache', 'guests', 'debian12-sda.img') },
  },
});
const runs = Number(values.runs);
const rate = Number(values.rate);
const diskMiB = Number(values['disk-size']);
const guest = path.resolve(values.guest);
for (const [k, v] of [['--runs', runs], ['--rate', rate], ['--disk-size', diskMiB]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k}: expected a whole number >= 1`);
}
if (!values.quick && !existsSync(guest)) throw new Error(`${guest}: no such guest (scripts/build-sample-guest.sh builds it; or --quick)`);
const env = { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: process.env.LIBGUESTFS_BACKEND_SETTINGS ?? 'force_tcg' };

/** Run to completion; seconds of wall time, or an error with the output's tail. */
function timed(argv: string[], tmp: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, TMPDIR: tmp } });
    let tail = '';
    const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-3000));
    c.stdout.on('data', keep);
    c.stderr.on('data', keep);
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error(`${argv.join(' ')}: exit ${code}:\n${tail}`))));
  });
}

const scratch = await tmpDir({ prefix: 'v2v-batch-bench-', unsafeCleanup: true });
const servers: Server[] = [];
try {
  const dir = scratch.path;
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  // The two remote guests: a datastore each, two disks each.
  const remote: { id: string; xml: string; disks: { uri: string; name: string }[] }[] = [];
  let seed = 0;
  for (const id of ['n1', 'n2']) {
    const store = path.join(dir, `store-${id}`);
    await mkdir(store);
    for (const d of ['sda', 'sdb']) {
      await timed(['nbdcopy', '--', '[', 'nbdkit', 'random', `${diskMiB * MiB}`, `seed=${++seed}`, ']', path.join(store, `${d}.img`)], tmp);
    }
    const port = await freePort();
    const s = await startNbdkit(['--filter=rate', 'file', `dir=${store}`, `rate=${rate * 8}M`], { dir, name: id, readonly: true, tcp: { host: '127.0.0.1', port } });
    servers.push(s);
    const xml = path.join(dir, `${id}.xml`);
    const disk = (d: string) =>
      `<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='${d}.img'><host name='127.0.0.1' port='${port}'/></source><target dev='${d}' bus='virtio'/></disk>`;
    await writeFile(xml, `<domain type='kvm'><name>${id}</name><memory unit='MiB'>1024</memory><devices>${disk('sda')}${disk('sdb')}</devices></domain>\n`);
    remote.push({ id, xml, disks: ['sda', 'sdb'].map((d) => ({ name: d, uri: `nbd://127.0.0.1:${port}/${d}.img` })) });
  }
  const conversions = values.quick ? [] : ['c1', 'c2'];
  console.log(
    `${conversions.length ? `2 conversions of ${guest} (-o local) and ` : ''}2 guests of 2 x ${diskMiB} MiB (random data) on ` +
      `datastores of ${rate} MiB/s each (nbdkit rate filter, TCP); ${runs} run(s); LIBGUESTFS_BACKEND_SETTINGS=${env.LIBGUESTFS_BACKEND_SETTINGS}`,
  );
  console.log('serial baseline: virt-v2v for the conversions; nbdcopy of each disk in turn for the guests copied as they are (virt-v2v has no --no-convert)\n');

  const batch = async (out: string): Promise<number> => {
    const guests = [
      ...conversions.map((id) => ({ id, args: ['-i', 'disk', guest, '-o', 'local', '-os', path.join(out, id), '-on', id] })),
      ...remote.map((g) => ({ id: g.id, args: ['-i', 'libvirtxml', g.xml, '-o', 'local', '-os', path.join(out, g.id), '--no-convert'] })),
    ];
    for (const g of guests) await mkdir(path.join(out, g.id), { recursive: true });
    const plan = path.join(out, 'plan.json');
    await writeFile(plan, JSON.stringify({ guests }));
    return timed([process.execPath, path.join(root, 'bin', 'v2v.js'), 'batch', plan], tmp);
  };
  const serial = async (out: string): Promise<number> => {
    let total = 0;
    for (const id of conversions) {
      await mkdir(path.join(out, id), { recursive: true });
      total += await timed(['virt-v2v', '-i', 'disk', guest, '-o', 'local', '-os', path.join(out, id), '-on', id], tmp);
    }
    for (const g of remote) {
      await mkdir(path.join(out, g.id), { recursive: true });
      for (const d of g.disks) total += await timed(['nbdcopy', d.uri, path.join(out, g.id, `${g.id}-${d.name}`)], tmp);
    }
    return total;
  };

  const results: { batch: number; serial: number }[] = [];
  for (let r = 0; r < runs; r++) {
    const out = path.join(dir, `out-${r}`);
    const t: Partial<Record<'batch' | 'serial', number>> = {};
    // Taking turns: neither always gets the warm caches.
    for (const kind of r % 2 === 0 ? (['batch', 'serial'] as const) : (['serial', 'batch'] as const)) {
      const o = path.join(out, kind);
      t[kind] = kind === 'batch' ? await batch(o) : await serial(o);
      const files = (await Promise.all((await readdir(o)).filter((g) => g !== 'plan.json').map(async (g) => (await readdir(path.join(o, g))).length))).reduce((a, b) => a + b, 0);
      console.log(`run ${r + 1} ${kind.padEnd(6)} ${t[kind]!.toFixed(1).padStart(7)} s  (${files} files written)`);
    }
    results.push({ batch: t.batch!, serial: t.serial! });
    await rm(out, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const b = median(results.map((x) => x.batch));
  const s = median(results.map((x) => x.serial));
  console.log(`\n| | median s |\n|---|---|\n| v2v batch | ${b.toFixed(1)} |\n| serial | ${s.toFixed(1)} |`);
  console.log(`\nbatch / serial = ${(b / s).toFixed(2)} (the aim: at most 0.6)`);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await scratch.cleanup();
}
