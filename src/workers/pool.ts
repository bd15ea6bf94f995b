// How worker files load, settled once (test/native/010-load.test.ts): the
// built CLI runs dist/**/*.js workers as they are; under vitest this module is
// a .ts file, and its workers are .ts files loaded through tsx's loader.
import { Piscina } from 'piscina';

export function workerFile(name: string): { filename: string; execArgv: string[] } {
  const isTs = import.meta.url.endsWith('.ts');
  return {
    filename: new URL(`./${name}.${isTs ? 'ts' : 'js'}`, import.meta.url).href,
    execArgv: isTs ? ['--import', 'tsx'] : [],
  };
}

export interface PoolOptions {
  maxThreads?: number;
  /** Threads started at once, so their start-up overlaps other work. */
  minThreads?: number;
}

/** A pool of one kind of worker; each task runs alone in its thread. */
export function createPool(name: string, opts: PoolOptions = {}): Piscina {
  const { filename, execArgv } = workerFile(name);
  return new Piscina({
    filename,
    execArgv,
    minThreads: opts.minThreads ?? 0,
    maxThreads: opts.maxThreads ?? 4,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    // Node 20's workers share stdout/stderr with the main thread; piscina
    // flushes them before it posts a result.
  });
}

/**
 * Destroy a pool whose threads may still be starting. Node 20 aborts the
 * whole process (FATAL ERROR from V8's module instantiation or from the
 * addon's init) when a worker is terminated while it loads its modules: the
 * case of bin/v2v.js, which starts a copy worker ahead of time and destroys
 * it unused when the command line is bad. So first one malformed task per
 * thread (each worker answers it with a typed failure, after loading) waits
 * until the threads have loaded, for at most `settleMs`.
 */
export async function destroyPool(pool: Piscina, settleMs = 5000): Promise<void> {
  const n = pool.threads.length;
  if (n > 0) {
    let timer: NodeJS.Timeout | undefined;
    const settled = Promise.all(Array.from({ length: n }, () => pool.run({ type: 'pool.settle' }).catch(() => undefined)));
    await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, settleMs)))]);
    clearTimeout(timer);
  }
  await pool.destroy();
}
