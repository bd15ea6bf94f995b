// A worker's first word, once its modules (and the addon) have loaded:
// `worker.ready` on piscina's port, which the pool re-emits as a 'message'
// event (src/workers/pool.ts), so that a pool is never torn down while a
// thread is still loading. Imported last by each worker file.
import { parentPort, threadId } from 'node:worker_threads';
import type { WorkerReady } from '../protocol/messages.js';

export function sayReady(worker: WorkerReady['worker']): void {
  parentPort?.postMessage({ type: 'worker.ready', worker, threadId } satisfies WorkerReady);
}
