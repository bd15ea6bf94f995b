// Bundle the CLI and its workers into dist/bundle/ (after tsc): a few files
// instead of ~150 modules, which halves Node's start-up of `v2v` (a small
// copy's time is mostly start-up). One build with code splitting: what the
// entries share (zod, pino, ...) is one chunk, compiled once per thread, and
// each command's modules, imported when it runs (src/cli/main.ts), are
// chunks of their own. Minified: less for V8 to decode and compile at each
// start (error names are set on the prototypes, so they survive it).
// piscina stays external: it starts its own worker script by path. The
// library entry (dist/src/index.js) is not bundled.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  splitting: true,
  logLevel: 'warning',
  external: ['piscina'],
  entryPoints: {
    cli: 'dist/src/cli/main.js',
    pool: 'dist/src/workers/pool.js',
    'copy-worker': 'dist/src/workers/copy-worker.js',
    'step-worker': 'dist/src/workers/step-worker.js',
  },
  outdir: 'dist/bundle',
  // Beside the entries: code that finds files from its own import.meta.url (the
  // workers, the addon) sees the same directory wherever esbuild put it.
  chunkNames: '[name]-[hash]',
  // CommonJS dependencies (commander, pino) call require(): give them one.
  banner: { js: "import { createRequire as __v2vCreateRequire } from 'node:module'; const require = __v2vCreateRequire(import.meta.url);" },
});
