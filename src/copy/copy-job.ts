// The coordinator's side of one copy actor: hands a CopyStart to a worker of
// the pool, relays progress, turns an AbortSignal into a cancel message (and,
// if the worker does not answer in time, into termination of the worker,
// whose environment cleanup hook closes every handle and server it owned).
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { AbortError, type EngineError } from '../errors.js';
import { FromCopyWorker, type CopyStart, type CopyStats, type ToCopyWorker } from '../protocol/messages.js';
import { fromWireError } from '../protocol/wire-error.js';

export interface CopyJobHooks {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** How long a cancelled worker may take before it is terminated. */
  cancelGraceMs?: number;
}

export async function runCopyJob(
  pool: Piscina,
  task: Omit<CopyStart, 'type' | 'port'>,
  hooks: CopyJobHooks = {},
): Promise<CopyStats> {
  const { signal } = hooks;
  if (signal?.aborted) throw new AbortError('copy cancelled before it started');
  const { port1, port2 } = new MessageChannel();
  const terminate = new AbortController();
  let graceTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    const msg: ToCopyWorker = { type: 'copy.cancel', jobId: task.jobId };
    port1.postMessage(msg);
    graceTimer = setTimeout(() => terminate.abort(), hooks.cancelGraceMs ?? 2000);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  port1.on('message', (m: unknown) => {
    const msg = FromCopyWorker.parse(m);
    if (msg.type === 'copy.progress') hooks.onProgress?.(msg.done, msg.total);
  });
  try {
    const start: CopyStart = { ...task, type: 'copy.start', port: port2 };
    let raw: unknown;
    try {
      raw = await pool.run(start, { transferList: [port2] as never, signal: terminate.signal });
    } catch (err) {
      if (terminate.signal.aborted) throw new AbortError('copy cancelled (the worker was terminated)');
      throw err;
    }
    const msg = FromCopyWorker.parse(raw);
    if (msg.type === 'copy.failed') {
      const err = fromWireError(msg.error) as EngineError;
      err.step ??= 'copy';
      err.disk ??= task.disk;
      throw err;
    }
    if (msg.type !== 'copy.done') throw new Error(`copy worker answered ${msg.type}`);
    hooks.onProgress?.(msg.stats.bytesTotal, msg.stats.bytesTotal);
    return msg.stats;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (graceTimer) clearTimeout(graceTimer);
    port1.close();
  }
}
