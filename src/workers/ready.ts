// A worker's first word, once its modules (and the addon) have loaded:
// `worker.ready` on piscina's port, which the pool re-emits as a 'message'
// event (src/workers/pool.ts), so that a pool is never torn down while a
// thread is still loading. Imported last by each worker file.
import { parentPort, threadId } from 'node:worker_threads';
import type { WorkerReady } from '../protocol/messages.js';

export function sayReady(worker: WorkerReady['worker']): void {
  parentPort?.postMessage({ type: 'worker.ready', worker, threadId } satisfies WorkerReady);
}

/**
 * The pool's check of that word. By hand, not WorkerReady.safeParse: the
 * pool module is what `v2v copy` loads first to start its worker early,
 * and zod would make it wait ~50 ms for nothing (WorkerReady's schema says
 * the same, and test/unit/workers/ready.test.ts holds the two together).
 */
export function isWorkerReady(m: unknown): m is WorkerReady {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return Object.keys(r).length === 3 && r.type === 'worker.ready' && (r.worker === 'copy' || r.worker === 'step') && Number.isSafeInteger(r.threadId);
}
