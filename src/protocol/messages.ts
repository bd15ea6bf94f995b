// The one catalogue of messages that cross a thread boundary, one zod
// discriminated union per direction. Parsed only at the boundary: the worker
// parses what it is given, the coordinator parses what comes back.
import { MessagePort } from 'node:worker_threads';
import * as z from 'zod';
import { CopyOptions } from '../copy/options.js';
import { Endpoint } from '../copy/endpoint.js';
import { ByteRanges } from '../copy/byte-ranges.js';
import { LogConfig } from '../log/config.js';
import { WireError, toWireError } from './wire-error.js';

export const JobId = z.string().min(1).max(200);

// ---------------------------------------------------------------- copy actor

/** The task handed to a copy worker (piscina task payload). */
export const CopyStart = z.strictObject({
  type: z.literal('copy.start'),
  jobId: JobId,
  disk: z.string(),
  source: Endpoint,
  target: Endpoint,
  options: CopyOptions,
  /** Copy only these byte ranges (sorted and merged); absent = the whole disk. */
  ranges: ByteRanges.optional(),
  log: LogConfig,
  progressIntervalMs: z.number().int().min(10).max(10_000).default(100),
  /** The worker's end of a MessageChannel for progress and cancel. */
  port: z.custom<MessagePort>((v) => v instanceof MessagePort, 'expected a MessagePort'),
});
export type CopyStart = z.input<typeof CopyStart>;

/** Coordinator -> copy worker, over the task's port. */
export const CopyCancel = z.strictObject({ type: z.literal('copy.cancel'), jobId: JobId });
export const ToCopyWorker = z.discriminatedUnion('type', [CopyCancel]);
export type ToCopyWorker = z.infer<typeof ToCopyWorker>;

export const CopyStats = z.strictObject({
  size: z.number(),
  connections: z.number().int(),
  bytesData: z.number(),
  bytesZeroed: z.number(),
  bytesSkipped: z.number(),
  /** Bytes read from the source (a ranges copy reads at most its ranges). */
  bytesRead: z.number(),
  /** Bytes the copy covers, the progress total: the disk's size, or the ranges' total. */
  bytesTotal: z.number(),
  retries: z.number().int(),
  extentFailures: z.number().int(),
  targetWasZero: z.boolean(),
  sourceExtents: z.boolean(),
  sparse: z.number().int(),
  /** The request size each connection settled on (native/size-tuner.h). */
  requestSizes: z.array(z.number().int()),
  /** Per connection, what the tuner measured: [request size, bytes per second] per epoch. */
  requestSizeTrials: z.array(z.array(z.tuple([z.number().int(), z.number()]))),
  seconds: z.number(),
});
export type CopyStats = z.infer<typeof CopyStats>;

export const CopyProgress = z.strictObject({
  type: z.literal('copy.progress'),
  jobId: JobId,
  done: z.number(),
  total: z.number(),
});
export const CopyDone = z.strictObject({ type: z.literal('copy.done'), jobId: JobId, stats: CopyStats });
export const CopyFailed = z.strictObject({ type: z.literal('copy.failed'), jobId: JobId, error: WireError });
export const FromCopyWorker = z.discriminatedUnion('type', [CopyProgress, CopyDone, CopyFailed]);
export type CopyProgress = z.infer<typeof CopyProgress>;
export type CopyDone = z.infer<typeof CopyDone>;
export type CopyFailed = z.infer<typeof CopyFailed>;
export type FromCopyWorker = z.infer<typeof FromCopyWorker>;

export const copyFailed = (jobId: string, err: unknown): CopyFailed => ({
  type: 'copy.failed',
  jobId,
  error: toWireError(err),
});

// ---------------------------------------------------------------- any worker

/** Worker -> pool, once, when its modules have loaded (src/workers/ready.ts). */
export const WorkerReady = z.strictObject({ type: z.literal('worker.ready'), worker: z.enum(['copy', 'step']), threadId: z.number().int() });
export type WorkerReady = z.infer<typeof WorkerReady>;
