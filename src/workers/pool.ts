// How worker files load, settled once (test/native/010-load.test.ts): the
// built CLI runs dist/**/*.js workers as they are; under vitest this module is
// a .ts file, and its workers are .ts files loaded through tsx's loader.
// Each worker says it has loaded with a `worker.ready` message (ready.ts).
import { Piscina } from 'piscina';
import { isWorkerReady } from './ready.js';

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

/** The threads of each pool that have said worker.ready. */
const loaded = new WeakMap<Piscina, Set<number>>();

/** A pool of one kind of worker; each task runs alone in its thread. */
export function createPool(name: string, opts: PoolOptions = {}): Piscina {
  const { filename, execArgv } = workerFile(name);
  const pool = new Piscina({
    filename,
    execArgv,
    minThreads: opts.minThreads ?? 0,
    maxThreads: opts.maxThreads ?? 4,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    // Node 20's workers share stdout/stderr with the main thread; piscina
    // flushes them before it posts a result.
  });
  const ready = new Set<number>();
  loaded.set(pool, ready);
  pool.on('message', (m: unknown) => {
    if (isWorkerReady(m)) ready.add(m.threadId);
  });
  return pool;
}

/**
 * Destroy a pool whose threads may still be starting. Node 20 aborts the
 * whole process (FATAL ERROR from V8's module instantiation or from the
 * addon's init) when a worker is terminated while it loads its modules: the
 * case of bin/v2v.js, which starts a copy worker ahead of time and destroys
 * it unused when the command line is bad. So it first waits until every
 * thread has said worker.ready, for at most `settleMs`: long, since on a
 * loaded machine a worker was seen to take more than 5 s to load (a thread
 * that fails to load leaves the pool and is not waited for).
 */
export async function destroyPool(pool: Piscina, settleMs = 60_000): Promise<void> {
  const ready = loaded.get(pool);
  const deadline = Date.now() + settleMs;
  while (ready && pool.threads.some((t) => !ready.has(t.threadId)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await pool.destroy();
}
