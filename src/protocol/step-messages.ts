// Messages between the coordinator and the step actors (src/workers/
// step-worker.ts), one zod union per direction (G2). An actor is one piscina
// task that runs one step of the one step contract (src/steps/step.ts) and
// lives as long as what that step holds: an input actor serves its overlay
// until released, the output actor holds its targets from setup until it
// runs finalize or is cancelled. The task payload starts it; a MessagePort
// carries the rest; the task's result is its last word (done or failed,
// never a throw across the thread). Every message names its job and actor.
import { MessagePort } from 'node:worker_threads';
import * as z from 'zod';
import { LogConfig } from '../log/config.js';
import { DiskIn, MetadataIn, MetadataOut, SourceBus } from '../metadata/schema.js';
import { ConvertOptions } from '../steps/convert/options.js';
import { OUTPUT_TYPES } from '../steps/output/names.js';
import { JobId } from './messages.js';
import { WireError, toWireError } from './wire-error.js';

const Port = z.custom<MessagePort>((v) => v instanceof MessagePort, 'expected a MessagePort');
const Ids = { jobId: JobId, actorId: z.string().min(1).max(200) };

// ------------------------------------------------------------ step inputs

/** input: one source disk behind a copy-on-write overlay on workdir/in<index>. */
export const InputStepWire = z.strictObject({
  index: z.number().int().min(0),
  disk: z.strictObject({
    /** A local path or a URI (nbd, nbd+unix, http, https, ssh). */
    file: z.string().min(1),
    format: z.string().optional(),
    bus: SourceBus,
    /** The disk is these bytes of `file` (a member of an uncompressed OVA). */
    tarRange: z.strictObject({ offset: z.number().int().min(0), size: z.number().int().min(0) }).optional(),
    /** gzip-compressed (those bytes, or the file): decompressed into the work dir first. */
    compressed: z.literal('gzip').optional(),
    /** The size the source's metadata declares; the disk must have it. */
    capacity: z.number().int().min(0).optional(),
    /** An ssh:// disk (-it ssh): the file holding the password (-ip). */
    passwordFile: z.string().min(1).optional(),
    /** A `json:` spec naming every file of the disk (an OVA member's checked chain). */
    image: z.string().startsWith('json:{').optional(),
    /** The backing chain the input plan read (-i disk), for metadata.in. */
    backing: z.array(z.string()).optional(),
    /** In-place conversion: a commit overlay, not a throwaway one. */
    inPlace: z.boolean().optional(),
  }),
});

export const ConvertStepWire = z.strictObject({
  metadata: MetadataIn,
  name: z.string().min(1),
  noConvert: z.boolean(),
  convert: ConvertOptions.optional(),
  /** In-place -O FILE. */
  outputFile: z.string().min(1).optional(),
});

export const OutputOptionsWire = z.strictObject({
  type: z.enum(OUTPUT_TYPES),
  storage: z.string().optional(),
  connection: z.string().optional(),
  format: z.enum(['raw', 'qcow2']),
  allocation: z.enum(['sparse', 'preallocated']),
  compressed: z.boolean().optional(),
  diskPattern: z.string().optional(),
  name: z.string().min(1),
});
export const OutputSetupWire = z.strictObject({ metadata: MetadataOut, options: OutputOptionsWire });
export const OutputFinalizeWire = z.strictObject({ metadata: MetadataOut });

// ------------------------------------------------------------ step outputs

export const InputReadyWire = z.strictObject({ disk: DiskIn, pid: z.number().int(), command: z.array(z.string()) });
export const OutputTargetWire = z.strictObject({ index: z.number().int().min(0), uri: z.string(), knownZero: z.boolean() });
export const OutputReadyWire = z.strictObject({ targets: z.array(OutputTargetWire) });
export const FilesWire = z.strictObject({ files: z.array(z.string()) });

// ------------------------------------------------------------ the task

const Common = {
  ...Ids,
  /** The job's work dir (created by the coordinator, mode 0700). */
  workdir: z.string().min(1),
  log: LogConfig,
  /** Which disk the actor works on, for its log lines (sda, ...). */
  disk: z.string().optional(),
  /** The actor's end of a MessageChannel. */
  port: Port,
};

export const ActorStart = z.discriminatedUnion('step', [
  z.strictObject({ type: z.literal('actor.start'), step: z.literal('input'), ...Common, input: InputStepWire }),
  z.strictObject({ type: z.literal('actor.start'), step: z.literal('convert'), ...Common, input: ConvertStepWire }),
  z.strictObject({ type: z.literal('actor.start'), step: z.literal('output-setup'), ...Common, input: OutputSetupWire }),
]);
export type ActorStart = z.input<typeof ActorStart>;
export type ActorStep = ActorStart['step'];

/** A task as the coordinator writes it: the port is added by startActor. */
export type ActorStartBody = ActorStart extends infer T ? (T extends unknown ? Omit<T, 'port' | 'type'> : never) : never;

// ------------------------------------------------------------ over the port

/** Actor -> coordinator: its step has run and holds what it made (servers); here is the step's output. */
export const ActorReady = z.discriminatedUnion('step', [
  z.strictObject({ type: z.literal('actor.ready'), ...Ids, step: z.literal('input'), output: InputReadyWire }),
  z.strictObject({ type: z.literal('actor.ready'), ...Ids, step: z.literal('output-setup'), output: OutputReadyWire }),
]);
export type ActorReady = z.infer<typeof ActorReady>;
export const FromActor = ActorReady;
export type FromActor = ActorReady;

/** Coordinator -> actor: run the step that follows on what it holds (output finalize on the output actor's setup). */
export const ActorNext = z.strictObject({ type: z.literal('actor.next'), ...Ids, step: z.literal('output-finalize'), input: OutputFinalizeWire });
/** Coordinator -> actor: the job has ended well: let go of what the step holds (step.release). */
export const ActorRelease = z.strictObject({ type: z.literal('actor.release'), ...Ids });
/** Coordinator -> actor: give up: stop, undo what was made (step.undo). */
export const ActorCancel = z.strictObject({ type: z.literal('actor.cancel'), ...Ids });
export const ToActor = z.discriminatedUnion('type', [ActorNext, ActorRelease, ActorCancel]);
export type ToActor = z.infer<typeof ToActor>;

/** What the actor is doing; ToActor messages are permitted in some of these only (checked in one place: permitted()). */
export type ActorStatus = 'running' | 'holding' | 'next' | 'ending';
export const PERMITTED: { readonly [K in ToActor['type']]: readonly ActorStatus[] } = {
  'actor.next': ['holding'],
  'actor.release': ['holding'],
  'actor.cancel': ['running', 'holding', 'next'],
};

// ------------------------------------------------------------ the result

export const ActorDone = z.strictObject({
  type: z.literal('actor.done'),
  ...Ids,
  /** The last step the actor ran. */
  step: z.enum(['input', 'convert', 'output-setup', 'output-finalize']),
  /** convert: metadata.out; output finalize: the files; a released actor: nothing. */
  output: z.union([MetadataOut, FilesWire]).optional(),
  /** What the user should hear about (virt-v2v's own warnings). */
  warnings: z.array(z.string()),
});
export const ActorFailed = z.strictObject({ type: z.literal('actor.failed'), ...Ids, step: z.string(), error: WireError, warnings: z.array(z.string()) });
export const ActorResult = z.discriminatedUnion('type', [ActorDone, ActorFailed]);
export type ActorDone = z.infer<typeof ActorDone>;
export type ActorFailed = z.infer<typeof ActorFailed>;
export type ActorResult = z.infer<typeof ActorResult>;

export const actorFailed = (ids: { jobId: string; actorId: string }, step: string, err: unknown, warnings: string[]): ActorFailed => ({
  type: 'actor.failed',
  ...ids,
  step,
  error: toWireError(err),
  warnings,
});
