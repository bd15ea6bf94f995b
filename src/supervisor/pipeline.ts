// The supervisor's pipeline: one job (one guest) as a short loop over the
// one step contract (src/steps/step.ts): input, convert, output setup, copy,
// output finalize, and cleanup always. The steps that own servers or run
// long (each disk's input, the conversion, the output) run in step actors
// (threads); the copies run in copy actors. `stage` is the one place where a
// step's events, log, timing and error wrapping (StepError: step, disk,
// log) happen.
import path from 'node:path';
import type { MetadataIn, MetadataOut } from '../metadata/schema.js';
import { CopyOptions } from '../copy/options.js';
import { AbortError, ConfigError, StepError, isAbortError } from '../errors.js';
import { describeInput, type JobOptions } from '../engine/options.js';
import type { JobEvent } from '../protocol/events.js';
import { cleanupStep } from '../steps/cleanup/step.js';
import { copyStep, type CopySlot, type DiskCopy } from '../steps/copy/step.js';
import { checkInputOptions, planSource, type SourcePlan } from '../steps/input/plan.js';
import { inputStep } from '../steps/input/step.js';
import { checkOutputOptions, type OutputOptions } from '../steps/output/output.js';
import { requireOvmf } from '../steps/output/ovmf.js';
import { compressedSizeProblem } from '../steps/output/compressed.js';
import { checkInPlaceOutput } from '../steps/convert/in-place-output.js';
import type { StepContext, StepName } from '../steps/step.js';
import type { ActorReady } from '../protocol/step-messages.js';
import { createPool, destroyPool } from '../workers/pool.js';
import { commitUnfinished, createWorkDir, type WorkDir } from '../workdir/workdir.js';
import { recordJob } from '../workdir/job-record.js';
import { startActor, type Actor } from './actor.js';
import { openJobLogs, type JobLogs } from './job-logs.js';

/** A batch's global limits (src/batch/): the job waits for a slot before it converts and before each disk's copy. */
export interface JobSlots {
  convert(signal: AbortSignal): Promise<() => void>;
  copy(disk: { disk: string; source: string; size: number }, signal: AbortSignal): Promise<CopySlot>;
}

export interface JobHooks {
  signal?: AbortSignal | undefined;
  onEvent?: ((e: JobEvent) => void) | undefined;
  slots?: JobSlots | undefined;
}

export interface JobResult {
  metadataIn: MetadataIn;
  metadataOut?: MetadataOut;
  /** The files written (disks, then the metadata file). */
  files: string[];
  logDir?: string;
  /** Seconds each step took. */
  timings: Partial<Record<StepName, number>>;
  copies: DiskCopy[];
}

const CONVERT_MESSAGE = 'Converting the guest to run on KVM (virt-v2v-in-place)';

export async function runJob(o: JobOptions, hooks: JobHooks = {}): Promise<JobResult> {
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const emit = (e: JobEvent) => hooks.onEvent?.(e);
  const signal = hooks.signal ?? new AbortController().signal;
  // Pre-flight, before anything starts: the options that name the user's
  // files, the source's metadata (a bad file fails here, logged in
  // input.log), then the output (missing -os, files that exist, a name too
  // long for its files, OVMF for a source that says UEFI).
  const input = await checkInputOptions(o.input);
  const logs = await openJobLogs(o.logDir, o.logLevel);
  let plan: SourcePlan | undefined;
  let workdir: WorkDir | undefined;
  try {
    const inputLog = logs.forStep('input');
    // A bad metadata file is the file's fault, said in one line; a disk
    // that cannot be read names input.log, as it does from its actor.
    const p = await planSource({ input, network: o.network, log: inputLog.log, signal, scratch: o.workParent, allowRemoteBacking: o.allowRemoteBacking }).catch((err: unknown) => {
      const named = (err as StepError).disk !== undefined;
      // The log the error names holds it (it was empty: the failure came before any line).
      if (named) inputLog.log.error({ err }, 'step failed');
      return Promise.reject(new StepError({ step: 'input', log: named ? inputLog.file : undefined }, err));
    });
    plan = p;
    for (const message of p.warnings) emit({ type: 'warning', step: 'input', message });
    const output: OutputOptions | undefined = o.printSourceOnly || o.inPlace ? undefined : { ...o.output, name: o.name ?? p.fields.name };
    if (output) await checkOutputOptions(output, signal);
    // A source that says UEFI stays UEFI: no OVMF here fails now rather than after the conversion.
    if (output && output.type !== 'null' && p.fields.firmware === 'uefi') requireOvmf();
    if (o.inPlace && o.inPlaceOutput !== undefined) checkInPlaceOutput(o.inPlaceOutput);
    workdir = await createWorkDir(o.workParent);
    // Who owns the dir, for `v2v cleanup --stale` if this process dies (src/workdir/job-record.ts).
    await recordJob(workdir, { logDir: o.logDir === undefined ? logs.dir : undefined });
    const r = await runSteps(o, p, output, { logs, workdir, signal, emit, elapsed, slots: hooks.slots });
    await logs.close(o.logDir !== undefined);
    return { ...r, ...(o.logDir ? { logDir: logs.dir } : {}) };
  } catch (err) {
    // A failed step keeps its logs for the user (its error names its log);
    // a cancelled job, or one refused before it started, keeps none.
    await logs.close(o.logDir !== undefined || (!isAbortError(err) && (err as StepError).log !== undefined));
    throw err;
  } finally {
    await workdir?.remove();
    // After every server that read the disks has stopped: an unpacked OVA goes.
    await plan?.cleanup?.();
  }
}

interface Run {
  logs: JobLogs;
  workdir: WorkDir;
  signal: AbortSignal;
  emit(e: JobEvent): void;
  elapsed(): number;
  slots: JobSlots | undefined;
}

async function runSteps(o: JobOptions, plan: SourcePlan, output: OutputOptions | undefined, run: Run): Promise<Omit<JobResult, 'logDir'>> {
  const { logs, workdir, signal, emit, elapsed } = run;
  const timings: JobResult['timings'] = {};
  const ctxFor = (step: StepName): StepContext => ({
    workdir,
    log: logs.forStep(step).log,
    signal,
    warn: (message) => emit({ type: 'warning', step, message }),
    detach: false,
  });
  let current: StepName | undefined;
  /** The one place a step is run: events, log, timing, and its failure wrapped once. */
  const stage = async <T>(step: StepName, message: string, fn: (ctx: StepContext) => Promise<T>): Promise<T> => {
    const ctx = ctxFor(step);
    const file = logs.forStep(step).file;
    const t = Date.now();
    current = step;
    try {
      if (signal.aborted) throw new AbortError('cancelled');
      emit({ type: 'step.started', step, message, elapsed: elapsed() });
      ctx.log.info({ message }, 'step started');
      const r = await fn(ctx);
      ctx.log.info('step finished');
      emit({ type: 'step.finished', step, elapsed: elapsed() });
      return r;
    } catch (err) {
      ctx.log.error({ err }, 'step failed');
      // Once Ctrl-C has been pressed, whatever failed after it is the cancel
      // (a failure an actor's part wrapped already included: a server that
      // was stopped while starting is "not ready in time").
      const cause = signal.aborted && !isAbortError(err) ? new AbortError('cancelled', { cause: err }) : err;
      throw cause instanceof StepError && cause.step === step ? cause : new StepError({ step, log: isAbortError(cause) ? undefined : file }, cause);
    } finally {
      timings[step] = (Date.now() - t) / 1000;
    }
  };

  // The actors: one per input overlay, the conversion, the output, on this
  // pool's threads; each owns what it starts. Copies have their own pool,
  // started now so that its threads load while the other steps run.
  const disks = plan.disks.length;
  const stepPool = createPool('step-worker', { maxThreads: disks + 2, minThreads: 0 });
  const copyPool = o.printSourceOnly || o.inPlace ? undefined : createPool('copy-worker', { maxThreads: disks, minThreads: disks });
  const actors: Actor[] = [];
  // Ctrl-C interrupts the actors that are working. Actors that only hold
  // (ready overlays and targets) stay until the step using them has stopped,
  // so that a cancelled copy ends as cancelled rather than as a lost server.
  const holding = new Set<Actor>();
  // An in-place commit under way is not interrupted: stopped half-way it
  // would leave the disks half converted (src/steps/convert/commit.ts).
  const committing = (a: Actor) => a.id === 'convert' && commitUnfinished(workdir.path);
  const cancelWorking = () => {
    if (actors.some(committing)) emit({ type: 'warning', step: 'convert', message: 'interrupted while committing the converted disks: the commit is finished first (press Ctrl-C again to stop at once; then run v2v cleanup on the kept work dir to finish it)' });
    actors.filter((a) => !holding.has(a) && !committing(a)).forEach((a) => a.cancel());
  };
  signal.addEventListener('abort', cancelWorking, { once: true });
  const actor = (step: 'input' | 'convert' | 'output-setup', body: { actorId: string; disk?: string; input: unknown }): Actor => {
    const a = startActor(stepPool, { jobId: path.basename(workdir.path), step, workdir: workdir.path, log: logs.forStep(step === 'output-setup' ? 'output' : step).config, ...body } as never, (m) =>
      emit({ type: 'warning', step, message: m }),
    );
    actors.push(a);
    if (signal.aborted) a.cancel();
    return a;
  };
  const held = async <T extends ActorReady['output']>(a: Actor): Promise<T> => {
    const out = (await a.ready) as T;
    holding.add(a);
    return out;
  };

  let ok = false;
  try {
    const metadataIn = await stage('input', `Setting up the source: ${describeInput(o.input)}`, async (ctx) => {
      const inputs = plan.disks.map((disk, index) => actor('input', { actorId: `input-in${index}`, disk: `in${index}`, input: { index, disk: o.inPlace ? { ...disk, inPlace: true } : disk } }));
      const ready = await Promise.all(
        inputs.map((a, i) => held<Extract<ActorReady, { step: 'input' }>['output']>(a).catch((err: unknown) => Promise.reject(new StepError({ step: 'input', disk: `in${i}`, log: logs.forStep('input').file }, err)))),
      );
      return inputStep.describe(ctx, plan, ready.map((r) => r.disk), o.name);
    });
    if (!output && !o.inPlace) {
      ok = true;
      return { metadataIn, files: [], timings, copies: [] };
    }
    // Known once the disks are open, refused before the conversion.
    const oddSize = output && compressedSizeProblem(output, metadataIn.disks);
    if (oddSize) throw new ConfigError(oddSize);
    // In place (-O FILE): the convert step commits into the disks once the conversion has succeeded (src/steps/convert/commit.ts).
    const outputFile = o.inPlace && o.inPlaceOutput !== undefined ? path.resolve(o.inPlaceOutput) : undefined;
    const message = o.inPlace ? 'Converting the guest in place' : o.noConvert ? 'Copying without conversion (--no-convert)' : CONVERT_MESSAGE;
    const metadataOut = await stage('convert', message, async () => {
      const release = o.noConvert ? undefined : await run.slots?.convert(signal);
      try {
        const input = { metadata: metadataIn, name: output?.name ?? o.name ?? plan.fields.name, noConvert: o.noConvert, ...(o.convert ? { convert: o.convert } : {}), ...(outputFile ? { outputFile } : {}) };
        return (await actor('convert', { actorId: 'convert', input }).done).output as MetadataOut;
      } finally {
        release?.();
      }
    });
    if (!output) {
      ok = true;
      return { metadataIn, metadataOut, files: outputFile ? [outputFile, `${outputFile}.metadata.out`] : [], timings, copies: [] };
    }
    const out = actor('output-setup', { actorId: 'output', input: { metadata: metadataOut, options: output } });
    const targets = await stage('output-setup', `Setting up the destination: -o ${output.type}${output.storage ? ` -os ${output.storage}` : ''}`, async () =>
      (await held<Extract<ActorReady, { step: 'output-setup' }>['output']>(out)).targets,
    );
    const copies = await stage('copy', `Copying ${metadataIn.disks.length === 1 ? 'the disk' : `${metadataIn.disks.length} disks in parallel`}`, (ctx) =>
      copyStep.run(ctx, {
        metadata: metadataIn,
        targets,
        options: CopyOptions.parse(o.copy ?? {}),
        pool: copyPool!,
        logFor: (disk) => logs.forStep('copy', disk),
        slot: run.slots ? (d, s) => run.slots!.copy(d, s) : undefined,
        onStarted: (d) => emit({ type: 'copy.started', ...d, elapsed: elapsed() }),
        onProgress: (d) => emit({ type: 'copy.progress', ...d }),
        onFinished: (d) => emit({ type: 'copy.finished', ...d, elapsed: elapsed() }),
      }),
    );
    const files = await stage('output-finalize', 'Creating output metadata', async () => {
      holding.delete(out);
      out.send({ type: 'actor.next', step: 'output-finalize', input: { metadata: metadataOut } });
      return ((await out.done).output as { files: string[] }).files;
    });
    ok = true;
    return { metadataIn, metadataOut, files, timings, copies };
  } catch (err) {
    const e = err as StepError;
    emit({ type: 'error', ...(e.step ? { step: e.step as StepName } : { step: current }), ...(e.disk ? { disk: e.disk } : {}), message: e.message, ...(e.log ? { log: e.log } : {}) });
    throw err;
  } finally {
    // Cleanup, always: the actors release (or, after a failure, undo) what
    // they hold; then what they could not undo is undone from the records.
    emit({ type: 'step.started', step: 'cleanup', message: 'Finishing off', elapsed: elapsed() });
    signal.removeEventListener('abort', cancelWorking);
    for (const a of actors) {
      if (ok) a.send({ type: 'actor.release' });
      else a.cancel(a.id === 'output' ? 10_000 : 3000); // the output's undo removes partial disks: give it time
    }
    const ends = await Promise.allSettled(actors.map((a) => a.done));
    const ctx = ctxFor('cleanup');
    for (const e of ends) if (e.status === 'rejected' && ok) ctx.log.warn({ err: e.reason }, 'a step actor failed while finishing');
    await Promise.all([destroyPool(stepPool), copyPool && destroyPool(copyPool)]);
    await cleanupStep.run(ctx, { ok, fromRecords: false });
    emit({ type: 'step.finished', step: 'cleanup', elapsed: elapsed() });
  }
}
