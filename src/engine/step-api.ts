// The steps one by one on a work dir, for supervisors of their own: the
// library's `engine.steps` and the step subcommands (`v2v input`, `v2v
// convert DIR`, ...) are this module. Each runs the step object in this
// thread with `detach`: the servers it starts outlive the call (and the
// process), known by their pidfiles in the work dir until `cleanup`. Each
// step logs to DIR/STEP.log.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, InputError, StateError } from '../errors.js';
import { actorLogger, silentLogger } from '../log/config.js';
import { closeLogger, createLogger } from '../log/logger.js';
import type { MetadataIn, MetadataOut } from '../metadata/schema.js';
import { nbdUnixUri } from '../process/server.js';
import { cleanupStep } from '../steps/cleanup/step.js';
import { convertStep } from '../steps/convert/step.js';
import { parseConvertOptions, type ConvertOptionsInput } from '../steps/convert/options.js';
import { checkInputOptions, planSource } from '../steps/input/plan.js';
import { serveAll } from '../steps/input/step.js';
import { checkOutputOptions, resumeOutput, type OutputOptions } from '../steps/output/output.js';
import { readOutputState } from '../steps/output/state-file.js';
import { outputFinalizeStep, outputSetupStep } from '../steps/output/step.js';
import type { StepContext, StepName } from '../steps/step.js';
import { createWorkDir, createWorkDirAt, existingWorkDir, readMetadataIn, readMetadataOut, type WorkDir } from '../workdir/workdir.js';
import { handOffJob, recordJob } from '../workdir/job-record.js';
import type { StaleJob } from '../workdir/stale.js';
import { cleanupStaleJobs } from '../steps/cleanup/stale-jobs.js';
import { withWorkDirLock } from '../workdir/lock.js';
import { parseJobOptions, type JobOptions, type JobOptionsInput } from './options.js';

export interface StepCallOptions {
  signal?: AbortSignal;
  /** virt-v2v's warnings, as they come. */
  onWarning?: (message: string) => void;
}

export interface StepApi {
  /** Serve the source's disks behind overlays in a new work dir (or `workdir`, new or empty); write metadata.in. */
  input(options: JobOptionsInput, o?: StepCallOptions & { workdir?: string }): Promise<{ workdir: string; metadata: MetadataIn }>;
  /** Convert the guest through the overlays (or only describe it: noConvert); write metadata.out. */
  /** After input with inPlace, the disks themselves are converted (committed on success); inPlaceOutput is -O FILE. */
  convert(workdir: string, o?: StepCallOptions & { noConvert?: boolean; name?: string; convert?: ConvertOptionsInput; inPlaceOutput?: string }): Promise<MetadataOut>;
  /** Create and serve the target disks; returns the pairs to copy (SOURCE overlay URI, TARGET URI). */
  outputSetup(workdir: string, output: JobOptions['output'] & { name?: string }, o?: StepCallOptions): Promise<{ source: string; target: string }[]>;
  /** Rename the finished disks and write the metadata file; returns the files written. */
  outputFinalize(workdir: string, o?: StepCallOptions): Promise<string[]>;
  /** Stop the work dir's servers, remove an unfinished output and the dir. */
  cleanup(workdir: string, o?: StepCallOptions): Promise<void>;
  /**
   * Undo the work dirs of dead jobs under `parent` (default $TMPDIR), each
   * as `cleanup` would (src/steps/cleanup/stale-jobs.ts). Returns them; a
   * dir that could not be undone stays, is named in a warning, and makes
   * the call reject once the others are done.
   */
  cleanupStale(o?: StepCallOptions & { parent?: string }): Promise<StaleJob[]>;
}

type Track = <T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>) => Promise<T>;

/** Run STEP's body with a context on work dir W, its log in W/<log>.log, closed afterwards. */
async function inStep<T>(w: WorkDir, step: StepName, log: string, signal: AbortSignal, o: StepCallOptions, fn: (ctx: StepContext) => Promise<T>): Promise<T> {
  const root = createLogger({ level: 'debug', file: path.join(w.path, `${log}.log`) });
  try {
    return await fn({ workdir: w, log: actorLogger(root, { actor: step, step }), signal, warn: (m) => o.onWarning?.(m), detach: true });
  } finally {
    closeLogger(root);
  }
}

export function stepApi(track: Track): StepApi {
  return {
    input(options, o = {}) {
      return track(o.signal, async (signal) => {
        const opts = parseJobOptions({ ...options, printSourceOnly: true });
        const input = await checkInputOptions(opts.input);
        const keepDir = o.workdir !== undefined && existsSync(o.workdir);
        const w = o.workdir ? await createWorkDirAt(o.workdir) : await createWorkDir(opts.workParent);
        try {
          // This process owns the dir until it returns it; then the caller does (never stale).
          await recordJob(w, { keepDir });
          const metadata = await inStep(w, 'input', 'input', signal, o, async (ctx) => {
            // A gzip OVA unpacks inside the work dir: its servers read it there until cleanup removes the dir.
            const plan = await planSource({ input, network: opts.network, log: ctx.log, signal, scratch: w.path, allowRemoteBacking: opts.allowRemoteBacking });
            const disks = opts.inPlace ? plan.disks.map((d) => ({ ...d, inPlace: true })) : plan.disks;
            return (await serveAll(ctx, { ...plan, disks }, opts.name)).metadata;
          });
          await handOffJob(w);
          return { workdir: w.path, metadata };
        } catch (err) {
          await w.remove();
          throw err;
        }
      });
    },
    convert(dir, o = {}) {
      return track(o.signal, async (signal) => {
        const w = await existingWorkDir(dir);
        return withWorkDirLock(w, 'v2v convert', async () => {
          const metadata = await readMetadataIn(w);
          return inStep(w, 'convert', 'convert', signal, o, (ctx) =>
            convertStep.run(ctx, {
              metadata,
              name: o.name ?? metadata.name,
              noConvert: o.noConvert === true,
              ...(o.convert ? { convert: parseConvertOptions(o.convert) } : {}),
              ...(o.inPlaceOutput !== undefined ? { outputFile: path.resolve(o.inPlaceOutput) } : {}),
            }),
          );
        });
      });
    },
    outputSetup(dir, output, o = {}) {
      return track(o.signal, async (signal) => {
        const w = await existingWorkDir(dir);
        // Two setups on one dir at once would both serve out0: one at a time.
        return withWorkDirLock(w, 'v2v output setup', async () => {
          const metadata = await readMetaOut(w, 'output setup', dir);
          if (await readOutputState(w)) throw new ConfigError(`output setup: ${w.path}: output setup has run here already`);
          const options: OutputOptions = { ...output, name: output.name ?? metadata.name };
          await checkOutputOptions(options, signal);
          const setup = await inStep(w, 'output-setup', 'output-setup', signal, o, (ctx) => outputSetupStep.run(ctx, { metadata, options }));
          return setup.targets.map((t) => ({ source: nbdUnixUri(w.inSocket(t.index)), target: t.uri }));
        });
      });
    },
    outputFinalize(dir, o = {}) {
      return track(o.signal, async (signal) => {
        const w = await existingWorkDir(dir);
        // Held to the end: a copy cannot start between the check of the copies and the renames.
        return withWorkDirLock(w, 'v2v output finalize', async () => {
          const metadata = await readMetaOut(w, 'output finalize', dir);
          if (!(await readOutputState(w))) throw new ConfigError(`output finalize: ${w.path}: output setup has not run here: run v2v output setup ${dir} first`);
          const { options, setup } = await resumeOutput(w);
          return inStep(w, 'output-finalize', 'output-finalize', signal, o, (ctx) => outputFinalizeStep.run(ctx, { metadata, options, setup }));
        });
      });
    },
    cleanup(dir, o = {}) {
      return track(o.signal, (signal) => cleanupFromRecords(dir, 'v2v cleanup', signal, o));
    },
    cleanupStale(o = {}) {
      return track(o.signal, async (signal) => {
        if (o.parent !== undefined && !(await isDirectory(o.parent))) throw new InputError(`cleanup --stale: parent ${o.parent}: not a directory`);
        const r = await cleanupStaleJobs(o.parent, signal, (dir) => cleanupFromRecords(dir, 'v2v cleanup --stale', signal, o));
        for (const k of r.kept.slice(1)) o.onWarning?.(`${k.dir}: kept: ${k.reason}`);
        const first = r.kept[0];
        if (first) {
          const others = r.kept.length > 1 ? ` (and ${r.kept.length - 1} more, named in the warnings)` : '';
          throw new StateError(`cleanup --stale: work dir ${first.dir} kept: ${first.reason}${others}; ${r.cleaned.length} cleaned up`);
        }
        return r.cleaned;
      });
    },
  };
}

/** The cleanup step on work dir DIR from its records alone, under its lock (not under a running step's feet; the lock file goes with the dir). */
async function cleanupFromRecords(dir: string, what: string, signal: AbortSignal, o: StepCallOptions): Promise<void> {
  const w = await existingWorkDir(dir);
  const ctx: StepContext = { workdir: w, log: silentLogger(), signal, warn: (m) => o.onWarning?.(m), detach: true };
  await withWorkDirLock(w, what, () => cleanupStep.run(ctx, { ok: false, fromRecords: true }));
}

async function readMetaOut(w: WorkDir, step: string, dir: string): Promise<MetadataOut> {
  if (!existsSync(w.metadataOut)) throw new ConfigError(`${step}: ${w.path}: no metadata.out yet: run v2v convert ${dir} first`);
  return readMetadataOut(w);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}
