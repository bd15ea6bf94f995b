// Bundle the CLI and its workers into dist/bundle/ (after tsc): one file per
// thread instead of ~150 modules, which halves Node's start-up of `v2v`
// (a small copy's time is mostly start-up). piscina stays external: it
// starts its own worker script by path. The library entry (dist/src/index.js)
// is not bundled.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  external: ['piscina'],
  // CommonJS dependencies (commander, pino) call require(): give them one.
  banner: { js: "import { createRequire as __v2vCreateRequire } from 'node:module'; const require = __v2vCreateRequire(import.meta.url);" },
};
await Promise.all([
  build({ ...common, entryPoints: { cli: 'dist/src/cli/main.js' }, outdir: 'dist/bundle' }),
  build({ ...common, entryPoints: { pool: 'dist/src/workers/pool.js' }, outdir: 'dist/bundle' }),
  build({ ...common, entryPoints: { 'copy-worker': 'dist/src/workers/copy-worker.js' }, outdir: 'dist/bundle' }),
  build({ ...common, entryPoints: { 'step-worker': 'dist/src/workers/step-worker.js' }, outdir: 'dist/bundle' }),
]);
