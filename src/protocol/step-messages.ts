// Messages between the coordinator and the step actors (step-worker.ts):
// one actor per input overlay, one for the conversion, one for the output.
// Each actor is one piscina task that lives as long as what it owns: an
// input actor serves its overlay until told to stop, the output actor holds
// its target servers from setup until finalize or abort. The task payload
// starts it; a MessagePort carries the rest both ways; the task's result is
// its last word (done or failed, never a throw across the thread).
import { MessagePort } from 'node:worker_threads';
import { z } from 'zod';
import { LogConfig } from '../log/logger.js';
import { DiskIn, MetadataIn, MetadataOut } from '../metadata/schema.js';
import { JobId } from './messages.js';
import { WireError, toWireError } from './wire-error.js';

const Port = z.custom<MessagePort>((v) => v instanceof MessagePort, 'expected a MessagePort');

const Common = {
  jobId: JobId,
  /** The job's work dir (created by the coordinator, mode 0700). */
  workdir: z.string().min(1),
  log: LogConfig,
  /** The actor's end of a MessageChannel. */
  port: Port,
};

/** Serve one source disk through a copy-on-write overlay on workdir/in<index>. */
export const InputServe = z.strictObject({
  type: z.literal('input.serve'),
  ...Common,
  index: z.number().int().min(0),
  file: z.string().min(1),
  format: z.string().optional(),
  /** The disk is these bytes of `file` (a member of an uncompressed OVA). */
  tarRange: z.strictObject({ offset: z.number().int().min(0), size: z.number().int().min(0) }).optional(),
  /** gzip-compressed (those bytes, or the file): decompressed into the work dir first. */
  compressed: z.literal('gzip').optional(),
  /** The size the source's metadata declares; the disk must have it. */
  capacity: z.number().int().min(0).optional(),
  /** An ssh:// disk (-it ssh): the file holding the password (-ip), for nbdkit's password=+FILE. */
  passwordFile: z.string().min(1).optional(),
});

/** Convert the guest (or, with noConvert, only describe it) and write metadata.out. */
export const ConvertRun = z.strictObject({
  type: z.literal('convert.run'),
  ...Common,
  metadata: MetadataIn,
  name: z.string().min(1),
  noConvert: z.boolean(),
});

export const OutputOptionsMsg = z.strictObject({
  type: z.enum(['local', 'qemu', 'null']),
  storage: z.string().optional(),
  format: z.enum(['raw', 'qcow2']),
  allocation: z.enum(['sparse', 'preallocated']),
  name: z.string().min(1),
});

/** Set the output up, hold it while the copies run, then finalize or abort it. */
export const OutputRun = z.strictObject({
  type: z.literal('output.run'),
  ...Common,
  metadata: MetadataOut,
  options: OutputOptionsMsg,
});

export const StepTask = z.discriminatedUnion('type', [InputServe, ConvertRun, OutputRun]);
export type StepTask = z.input<typeof StepTask>;

// Actor -> coordinator, over the port, while the task runs.
export const InputReady = z.strictObject({ type: z.literal('input.ready'), disk: DiskIn, pid: z.number().int(), command: z.array(z.string()) });
export const OutputTarget = z.strictObject({ index: z.number().int().min(0), uri: z.string(), knownZero: z.boolean() });
export const OutputReady = z.strictObject({ type: z.literal('output.ready'), targets: z.array(OutputTarget) });
export const FromStepActor = z.discriminatedUnion('type', [InputReady, OutputReady]);
export type FromStepActor = z.infer<typeof FromStepActor>;

// Coordinator -> actor, over the port.
/** Finish: an input actor stops its overlay, the output actor finalizes. */
export const StepFinish = z.strictObject({ type: z.literal('step.finish') });
/** Give up: stop everything, undo what was made (partial output removed). */
export const StepCancel = z.strictObject({ type: z.literal('step.cancel') });
export const ToStepActor = z.discriminatedUnion('type', [StepFinish, StepCancel]);
export type ToStepActor = z.infer<typeof ToStepActor>;

// The task's result.
export const StepDone = z.strictObject({
  type: z.literal('step.done'),
  jobId: JobId,
  /** convert: metadata.out; output: the files written; input: nothing. */
  metadataOut: MetadataOut.optional(),
  files: z.array(z.string()).optional(),
  /** What the user should hear about (virt-v2v's own warnings). */
  warnings: z.array(z.string()).optional(),
});
export const StepFailed = z.strictObject({ type: z.literal('step.failed'), jobId: JobId, error: WireError });
export const StepResult = z.discriminatedUnion('type', [StepDone, StepFailed]);
export type StepDone = z.infer<typeof StepDone>;
export type StepFailed = z.infer<typeof StepFailed>;
export type StepResult = z.infer<typeof StepResult>;

export const stepFailed = (jobId: string, err: unknown): StepFailed => ({ type: 'step.failed', jobId, error: toWireError(err) });

/** A task as the coordinator writes it: the port is added by startActor. */
export type StepTaskBody = StepTask extends infer T ? (T extends unknown ? Omit<T, 'port'> : never) : never;
