// npm run build:binary: dist/v2v, one executable file that runs `v2v` on a
// machine with the system packages (nbdkit, qemu, libguestfs, libnbd) but
// no Node.js and no node_modules. It is a Node.js single executable
// application: a copy of the node binary (this one, or --node FILE) with a
// blob injected (postject) that holds src/sea/main.ts, bundled as CommonJS,
// and, as assets, the files `node bin/v2v.js` runs: package.json, bin/,
// the bundles of dist/bundle/, piscina and the native addon. main.ts writes
// them once into a private directory and runs bin/v2v.js from there.
// Needs `npm run build` first.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { inject } from 'postject';

const { values } = parseArgs({ options: { node: { type: 'string', default: process.execPath }, out: { type: 'string', default: 'dist/v2v' } } });
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);

const need = ['dist/bundle/cli.js', 'build/Release/v2v_nbd.node'];
for (const f of need) if (!existsSync(f)) throw new Error(`${f} is missing: run "npm run build" first`);

/** Every file under DIR (relative to the root) whose name passes KEEP. */
function filesUnder(dir, keep) {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile() && keep(f))
    .sort();
}
const files = [
  'package.json',
  'bin/v2v.js',
  'bin/netns-run.sh',
  ...filesUnder('dist/bundle', (f) => f.endsWith('.js')),
  ...filesUnder('node_modules/piscina', (f) => f.endsWith('package.json') || /\.(c|m)?js$/.test(f)),
  'build/Release/v2v_nbd.node',
];

const nodeVersion = execFileSync(values.node, ['--version'], { encoding: 'utf8' }).trim();
const entries = files.map((f) => ({
  path: f,
  sha256: createHash('sha256').update(readFileSync(f)).digest('hex'),
  mode: statSync(f).mode & 0o100 ? 0o700 : 0o600,
}));
const id = createHash('sha256')
  .update(JSON.stringify({ nodeVersion, entries }))
  .digest('hex');

const work = path.resolve('dist/sea');
mkdirSync(work, { recursive: true });
await build({
  entryPoints: ['src/sea/main.ts'],
  outfile: path.join(work, 'main.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
});
writeFileSync(path.join(work, 'manifest.json'), JSON.stringify({ id, files: entries }));
const config = {
  main: path.join(work, 'main.cjs'),
  output: path.join(work, 'prep.blob'),
  disableExperimentalSEAWarning: true,
  assets: {
    'manifest.json': path.join(work, 'manifest.json'),
    ...Object.fromEntries(files.map((f) => [`f/${f}`, path.resolve(f)])),
  },
};
writeFileSync(path.join(work, 'sea-config.json'), JSON.stringify(config, null, 2));
execFileSync(values.node, ['--experimental-sea-config', path.join(work, 'sea-config.json')], { stdio: 'inherit' });

// Written beside the target and renamed: a half-written binary never has its name.
const out = path.resolve(values.out);
mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp`;
copyFileSync(values.node, tmp);
chmodSync(tmp, 0o755);
await inject(tmp, 'NODE_SEA_BLOB', readFileSync(config.output), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
renameSync(tmp, out);
const size = statSync(out).size;
console.log(`${path.relative(root, out)}: ${(size / 2 ** 20).toFixed(1)} MiB, node ${nodeVersion}, ${files.length} files, build ${id.slice(0, 16)}`);
