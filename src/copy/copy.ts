// copy(): the engine's public copy of one disk, used by `v2v copy` and by
// services that embed the engine. Validates everything before a thread
// starts, runs the copy in a worker, and on failure or cancel removes a
// target file it created, so no half-written file is left looking complete.
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Piscina } from 'piscina';
import { ConfigError } from '../errors.js';
import { LogConfig, actorLogger } from '../log/config.js';
import { closeOpened, openLogger } from '../log/open.js';
import type { CopyStats } from '../protocol/messages.js';
import { createPool } from '../workers/pool.js';
import { runCopyJob } from './copy-job.js';
import { checkEndpoint, parseEndpoint, type Endpoint } from './endpoint.js';
import { CopyOptions, type CopyOptionsInput } from './options.js';
import { normaliseRanges, type ByteRange } from './byte-ranges.js';
import { checkNotSame } from './same-endpoint.js';
import { formatZodError } from '../util/zod.js';
import { atLastResort } from '../util/last-resort.js';
import { recordCopyInto } from '../workdir/copy-record.js';

export interface CopyRequest {
  source: string | string[] | Endpoint;
  target: string | string[] | Endpoint;
  options?: CopyOptionsInput;
  /**
   * Read and write only these byte ranges of the disk (warm migration's
   * incremental rounds, committing an overlay): integers, length > 0, within
   * the source's size (checked once it is known). Any order: sorted, and
   * overlapping or touching ranges merged. [] copies nothing. The target
   * keeps its other bytes: it is never taken to read as zero (no probe, a
   * file is not truncated) unless options.targetIsZero says so. See
   * src/copy/ranges.ts for where ranges come from.
   */
  ranges?: ByteRange[];
  log?: LogConfig;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Run in this pool instead of a private one. */
  pool?: Piscina;
  jobId?: string;
  disk?: string;
}

let jobCounter = 0;

export async function copy(req: CopyRequest): Promise<CopyStats> {
  const parsed = CopyOptions.safeParse(req.options ?? {});
  if (!parsed.success) throw new ConfigError(`copy options: ${formatZodError(parsed.error)}`);
  const ranges = req.ranges === undefined ? undefined : normaliseRanges(req.ranges, 'copy ranges');
  const source = typeof req.source === 'object' && !Array.isArray(req.source) ? req.source : parseEndpoint(req.source, 'source');
  const target = typeof req.target === 'object' && !Array.isArray(req.target) ? req.target : parseEndpoint(req.target, 'target');
  await checkEndpoint(source, 'source');
  const { created } = await checkEndpoint(target, 'target');
  await checkNotSame(source, target);
  // Into a work dir's output (the pairs `v2v output setup` prints): recorded there for finalize.
  const record = await recordCopyInto(source, target);
  const logConfig = LogConfig.parse(req.log ?? {});
  const jobId = req.jobId ?? `copy-${process.pid}-${++jobCounter}`;
  const disk = req.disk ?? 'disk';
  const log = actorLogger(await openLogger(logConfig), { actor: 'coordinator', step: 'copy', disk, jobId });
  const pool = req.pool ?? createPool('copy-worker', { maxThreads: 1 });
  // A second Ctrl-C exits at once: the half-written file still goes.
  const forget = created && target.kind === 'file' ? atLastResort(() => rmSync(target.path, { force: true })) : undefined;
  try {
    log.info({ source: source.name, target: target.name }, 'copy job started');
    const stats = await runCopyJob(
      pool,
      { jobId, disk, source, target, options: parsed.data, ...(ranges ? { ranges } : {}), log: logConfig },
      { ...(req.signal ? { signal: req.signal } : {}), ...(req.onProgress ? { onProgress: req.onProgress } : {}) },
    );
    await record?.done();
    log.info({ stats }, 'copy job done');
    return stats;
  } catch (err) {
    log.error({ err }, 'copy job failed');
    await record?.failed().catch(() => {});
    if (created && target.kind === 'file') {
      await rm(target.path, { force: true });
      log.info({ path: target.path }, 'removed the partly written target file');
    }
    throw err;
  } finally {
    forget?.();
    try {
      if (!req.pool) await pool.destroy();
    } finally {
      closeOpened(log);
    }
  }
}
