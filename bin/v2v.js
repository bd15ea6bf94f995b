#!/usr/bin/env node
// The v2v command: runs the built engine (npm run build).
import module from 'node:module';

// Node >= 22.1 caches compiled code between runs; start-up is most of a
// small copy's time.
module.enableCompileCache?.();

const argv = process.argv.slice(2);
let pools;
let copyPool;
if (argv[0] === 'copy' && !argv.includes('--help') && !argv.includes('-h')) {
  // Start the copy worker first, so that its start-up runs on the other core
  // while this thread loads the CLI.
  pools = await import('../dist/bundle/pool.js');
  copyPool = pools.createPool('copy-worker', { maxThreads: 1, minThreads: 1 });
}
const { main } = await import('../dist/bundle/cli.js');
try {
  process.exitCode = await main(argv, { copyPool });
} finally {
  // Not copyPool.destroy(): the worker may still be loading (a bad command
  // line ends before it is up), and terminating it then aborts the process.
  if (copyPool) await pools.destroyPool(copyPool);
}
