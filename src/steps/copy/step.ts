// The copy step (seed step 4) on the one step contract: every disk at once,
// each in its own copy actor (a piscina thread running the native copier,
// src/workers/copy-worker.ts), from the overlay on in<N> to its target. One
// disk failing stops the others: the first failure is the step's, wrapped
// with its disk and that disk's log. A batch's copy slots (JobSlots) are
// taken per disk, so a guest's copies queue behind other guests' copies.
import type { Piscina } from 'piscina';
import { runCopyJob } from '../../copy/copy-job.js';
import type { CopyOptions } from '../../copy/options.js';
import { AbortError, StateError, StepError, isAbortError } from '../../errors.js';
import type { LogConfig } from '../../log/config.js';
import type { MetadataIn } from '../../metadata/schema.js';
import { nbdUnixUri } from '../../process/server.js';
import type { CopyStats } from '../../protocol/messages.js';
import { diskName } from '../../util/drive-name.js';
import type { OutputTarget } from '../output/output.js';
import type { Step } from '../step.js';
import { startCopyRecord } from '../../workdir/copy-record.js';

export interface CopySlot {
  release(): void;
  /** Bytes/s for this copy (a batch's bandwidth share). */
  rateLimit?: number;
}

export interface CopyStepIn {
  metadata: MetadataIn;
  targets: OutputTarget[];
  options: CopyOptions;
  /** The copy actors' pool (started with the job, so their threads are warm). */
  pool: Piscina;
  /** Each disk's own log. */
  logFor(disk: string): { config: LogConfig; file?: string | undefined };
  /** A batch's copy slot for a disk, waited for before its copy starts. */
  slot?: ((d: { disk: string; source: string; size: number }, signal: AbortSignal) => Promise<CopySlot>) | undefined;
  onStarted?(d: { disk: string; index: number; total: number }): void;
  onProgress?(d: { disk: string; index: number; done: number; total: number }): void;
  onFinished?(d: { disk: string; index: number }): void;
}

export interface DiskCopy {
  disk: string;
  stats: CopyStats;
}

export const copyStep: Step<CopyStepIn, DiskCopy[]> = {
  name: 'copy',
  async run(ctx, input) {
    const { metadata, targets, options, pool } = input;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let first: unknown;
    try {
      const settled = await Promise.allSettled(
        metadata.disks.map(async (d): Promise<DiskCopy> => {
          const disk = diskName(d.index);
          const { config, file } = input.logFor(disk);
          try {
            const target = targets.find((t) => t.index === d.index);
            if (!target) throw new StateError(`copy: no target for disk ${disk}`);
            const slot = await input.slot?.({ disk, source: d.source, size: d.size }, stop.signal);
            // DIR/copy<N>.json: finalize renames only disks whose copy is done.
            const record = await startCopyRecord(ctx.workdir, d.index).catch((err: unknown) => {
              slot?.release();
              throw err;
            });
            try {
              input.onStarted?.({ disk, index: d.index, total: d.size });
              ctx.log.info({ disk, log: file }, 'disk copy started');
              const stats = await runCopyJob(
                pool,
                {
                  jobId: `copy-${disk}`,
                  disk,
                  source: { kind: 'nbd-uri', name: `source ${disk} (${d.source})`, uri: nbdUnixUri(ctx.workdir.inSocket(d.index)) },
                  target: target.uri === 'null:' ? { kind: 'null', name: `target ${disk} null:` } : { kind: 'nbd-uri', name: `target ${disk}`, uri: target.uri },
                  options: {
                    ...options,
                    targetIsZero: options.targetIsZero || target.knownZero,
                    ...(slot?.rateLimit ? { rateLimit: slot.rateLimit } : {}),
                  },
                  log: config,
                },
                { signal: stop.signal, onProgress: (done, total) => input.onProgress?.({ disk, index: d.index, done, total }) },
              );
              await record.done();
              input.onFinished?.({ disk, index: d.index });
              ctx.log.info({ disk, stats }, 'disk copy finished');
              return { disk, stats };
            } catch (err) {
              await record.failed().catch(() => {});
              throw err;
            } finally {
              slot?.release();
            }
          } catch (err) {
            // One disk failing stops the others: the first is the step's failure.
            if (first === undefined && !(stop.signal.aborted && isAbortError(err))) first = new StepError({ step: 'copy', disk, log: file }, err);
            stop.abort();
            throw err;
          }
        }),
      );
      if (ctx.signal.aborted) throw new AbortError('copy: cancelled');
      if (first !== undefined) throw first;
      return settled.map((r) => (r as PromiseFulfilledResult<DiskCopy>).value);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  },
};
