// The copy actor: one piscina task per disk copy. It owns a native Copier,
// posts progress over the task's port on a timer, cancels on request, and
// always returns a message (never throws across the thread boundary).
import { sayReady } from './ready.js';
import { threadId } from 'node:worker_threads';
import type { Logger } from 'pino';
import { addon } from '../nbd/binding.js';
import { actorLogger } from '../log/config.js';
import { closeOpened, openLogger } from '../log/open.js';
import { describeLowering, fitMemoryBudget, tunerPlan } from '../copy/memory-budget.js';
import { rangesTotal } from '../copy/byte-ranges.js';
import {
  CopyStart,
  ToCopyWorker,
  copyFailed,
  type CopyDone,
  type CopyFailed,
  type CopyProgress,
} from '../protocol/messages.js';

export default async function copyTask(raw: unknown): Promise<CopyDone | CopyFailed> {
  let jobId = 'unknown';
  let log: Logger | undefined;
  let root: Logger | undefined;
  try {
    const task = CopyStart.parse(raw);
    jobId = task.jobId;
    const port = task.port;
    root = await openLogger(task.log);
    log = actorLogger(root, { actor: 'copy', step: 'copy', disk: task.disk, jobId }).child({
      thread: threadId,
    });
    // The buffers stay within the memory budget whatever the options say.
    const plan = fitMemoryBudget(task.options);
    if (plan.lowered) log.info({ memoryBudget: task.options.memoryBudget, plan }, describeLowering(task.options, plan));
    const o = { ...task.options, connections: plan.connections, requests: plan.requests, ...tunerPlan(task.options, plan) };
    const ranges = task.ranges ? { ranges: task.ranges } : {};
    const copier = new addon.Copier({ source: task.source, target: task.target, ...o, ...ranges });
    const rangesLog = task.ranges ? { ranges: task.ranges.length, rangesBytes: rangesTotal(task.ranges) } : {};
    log.info({ source: task.source.name, target: task.target.name, options: o, ...rangesLog }, 'copy starting');
    port.on('message', (m: unknown) => {
      const msg = ToCopyWorker.safeParse(m);
      if (!msg.success) {
        log?.warn({ message: m }, 'ignored a malformed message');
        return;
      }
      log?.info('cancel requested');
      copier.cancel();
    });
    let last = -1;
    const post = () => {
      const p = copier.progress();
      // Before the copier has connected, the size is not known (total 0):
      // nothing to say yet (a loaded machine showed such a first line).
      if (p.total === 0 || p.done === last) return;
      last = p.done;
      const msg: CopyProgress = { type: 'copy.progress', jobId, done: p.done, total: p.total };
      port.postMessage(msg);
    };
    const timer = setInterval(post, task.progressIntervalMs);
    try {
      const stats = await copier.start();
      post();
      log.info({ stats, mbPerSec: Math.round(stats.bytesTotal / 1e6 / Math.max(stats.seconds, 1e-6)) }, 'copy finished');
      return { type: 'copy.done', jobId, stats };
    } finally {
      clearInterval(timer);
      port.close();
    }
  } catch (err) {
    log?.error({ err }, 'copy failed');
    return copyFailed(jobId, err);
  } finally {
    if (root) closeOpened(root);
  }
}

sayReady('copy');
