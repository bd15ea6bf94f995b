// The engine's public surface, for services that embed it (re-exports only).
export { createEngine, type Engine, type EngineOptions } from './engine/engine.js';
export { optionsFromArgs } from './engine/from-args.js';
export { JobOptions, InputOptions, NetworkMapOptions, OutputOptionsSchema as OutputOptions, parseJobOptions, type JobOptionsInput } from './engine/options.js';
export type { StepApi, StepCallOptions } from './engine/step-api.js';
export type { JobHooks, JobResult, JobSlots } from './supervisor/pipeline.js';
export { JobEvent } from './protocol/events.js';
export { BatchPlan, parsePlan, type BatchPlanInput, type Plan } from './batch/plan.js';
export { loadPlan } from './batch/load.js';
export { BatchEvent, GuestResult } from './batch/events.js';
export type { BatchHooks, BatchResult } from './batch/run.js';
export { StepName, type Step, type StepContext } from './steps/step.js';
export { MetadataIn, MetadataOut, DiskIn, NicIn, GuestOs } from './metadata/schema.js';
export { copy, type CopyRequest } from './copy/copy.js';
export {
  normaliseRanges,
  rangesFromJson,
  rangesFromJsonFile,
  rangesFromContext,
  rangesFromBitmap,
  rangesFromTopLayer,
  type ByteRange,
} from './copy/ranges.js';
export { CopyOptions, defaultConnections, type CopyOptionsInput } from './copy/options.js';
export { ConvertOptions, LuksKey, type ConvertOptionsInput } from './steps/convert/options.js';
export { parseEndpoint, parseOperands, type Endpoint } from './copy/endpoint.js';
export { CopyStats } from './protocol/messages.js';
export { NbdHandle, type Extent, nativeStats, libnbdVersion } from './nbd/handle.js';
export * from './errors.js';
export { startNbdkit, startQemuNbd, nbdUnixUri, type Server } from './process/server.js';
export { WarmState, WarmRound } from './warm/state.js';
export type { WarmApi, WarmEvents } from './warm/warm.js';
export type { Changes as WarmChanges } from './warm/round.js';
