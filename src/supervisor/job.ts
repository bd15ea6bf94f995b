// The coordinator of a whole conversion: drives input, convert, output
// setup, copy (every disk at once, one copy actor each), output finalize and
// cleanup through the work dir contract. Cleanup always runs: servers
// stopped, partial output removed on failure, the work dir removed. Each
// step logs to its own file; a failure names its step, its disk and that log.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { runCopyJob } from '../copy/copy-job.js';
import type { CopyOptionsInput } from '../copy/options.js';
import { CopyOptions } from '../copy/options.js';
import { AbortError, EngineError, isAbortError } from '../errors.js';
import { actorLogger, createLogger, type LogConfig } from '../log/logger.js';
import { type DiskIn, type MetadataIn, type MetadataOut } from '../metadata/schema.js';
import { nbdUnixUri } from '../process/server.js';
import type { StepTaskBody } from '../protocol/step-messages.js';
import { defaultGuestName, diskGuestFields, writeMetadataIn, type GuestFields } from '../steps/input/disk.js';
import { applyNetworkMap, parseNetworkMap, type NetworkMapOptions } from '../steps/input/libvirtxml/parse.js';
import { readSource, type DiskSpec, type SourceInput } from '../steps/input/source-input.js';
import { checkOutputOptions, type OutputOptions } from '../steps/output/output.js';
import { createPool, destroyPool } from '../workers/pool.js';
import { createWorkDir, type WorkDir } from '../workdir/workdir.js';
import { removeUnfinishedOutput } from '../steps/cleanup.js';
import { startActor, type Actor } from './actor.js';
import { diskName, type JobEvent, type StepName } from './events.js';

export interface JobOptions {
  /** -i disk FILE..., or a guest's metadata file (-i libvirtxml, -i vmx). */
  input: { type: 'disk'; files: string[]; format?: string; network?: NetworkMapOptions } | SourceInput;
  output: Omit<OutputOptions, 'name'>;
  /** -on: the target's name; default the source's. */
  name?: string;
  noConvert: boolean;
  /** Stop after the input step (--print-source). */
  printSourceOnly?: boolean;
  /** Where each step's log goes; default a private dir kept only on failure. */
  logDir?: string;
  logLevel?: LogConfig['level'];
  /** Parent of the work dir (default $TMPDIR). */
  workParent?: string;
  copy?: CopyOptionsInput;
}

export interface JobResult {
  metadataIn: MetadataIn;
  metadataOut?: MetadataOut;
  files: string[];
  logDir?: string;
}

export interface JobHooks {
  signal?: AbortSignal;
  onEvent?: (e: JobEvent) => void;
}


/** What the input's metadata says, read before anything starts (a bad file fails here). */
interface Source {
  fields: GuestFields;
  disks: DiskSpec[];
  warnings: string[];
  cleanup?: () => Promise<void>;
}

async function readInput(opts: JobOptions, log: Logger, signal?: AbortSignal): Promise<Source> {
  const i = opts.input;
  if (i.type === 'disk') {
    const fields = diskGuestFields(defaultGuestName(i.files[0] ?? 'guest'));
    if (i.network) fields.nics = applyNetworkMap(fields.nics, parseNetworkMap(i.network));
    return {
      fields,
      disks: i.files.map((file) => ({ file, ...(i.format ? { format: i.format } : {}), bus: 'unknown' as const })),
      warnings: [],
    };
  }
  try {
    return await readSource(i, log, signal, opts.workParent);
  } catch (err) {
    (err as EngineError).step ??= 'input';
    throw err;
  }
}

export async function runJob(opts: JobOptions, hooks: JobHooks = {}): Promise<JobResult> {
  const t0 = Date.now();
  // Pre-flight, before anything starts: the source's metadata (a bad file
  // fails here), then the output (missing -os, files that exist).
  const source = await readInput(opts, createLogger({ level: 'silent' }), hooks.signal);
  try {
    return await runWith(source, opts, hooks, t0);
  } finally {
    // After every server that read the disks has stopped: an unpacked OVA goes.
    await source.cleanup?.();
  }
}

async function runWith(source: Source, opts: JobOptions, hooks: JobHooks, t0: number): Promise<JobResult> {
  const elapsed = () => (Date.now() - t0) / 1000;
  const emit = (e: JobEvent) => hooks.onEvent?.(e);
  const signal = hooks.signal;
  const copyOptions = CopyOptions.parse(opts.copy ?? {});
  for (const message of source.warnings) emit({ type: 'warning', step: 'input', message });
  const outputOptions: OutputOptions | undefined = opts.printSourceOnly ? undefined : { ...opts.output, name: opts.name ?? source.fields.name };
  if (outputOptions) checkOutputOptions(outputOptions);

  // Logs: one file per step; kept on failure, or always with --log-dir.
  const ownLogDir = opts.logDir ? undefined : await tmpDir({ prefix: 'v2v-log-', mode: 0o700, unsafeCleanup: true });
  const logDir = opts.logDir ?? ownLogDir!.path;
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const logFile = (step: string) => path.join(logDir, `${step}.log`);
  const level = opts.logLevel ?? 'debug';
  const stepLog = (step: StepName | string, disk?: string): { log: Logger; file: string; config: LogConfig } => {
    const file = logFile(disk ? `${step}-${disk}` : step);
    const config: LogConfig = { level, file };
    return {
      log: actorLogger(createLogger(config), { actor: step, step, ...(disk ? { disk } : {}) }),
      file,
      config,
    };
  };

  let current: { step: StepName; disk?: string; file: string } | undefined;
  const step = async <T>(name: StepName, message: string, fn: (log: Logger) => Promise<T>): Promise<T> => {
    if (signal?.aborted) throw new AbortError(`${name}: cancelled`);
    const { log, file } = stepLog(name);
    current = { step: name, file };
    emit({ type: 'step.started', step: name, message, elapsed: elapsed() });
    log.info({ message }, 'step started');
    try {
      const r = await fn(log);
      log.info('step finished');
      emit({ type: 'step.finished', step: name, elapsed: elapsed() });
      return r;
    } catch (err) {
      log.error({ err }, 'step failed');
      throw err;
    }
  };

  let workdir: WorkDir | undefined;
  // The step actors (workers/step-worker.ts): one per input overlay, the
  // conversion, the output. They run on this pool's threads; each owns what
  // it starts. Copies have their own pool (one copy actor per disk).
  const disks = source.disks.length;
  const stepPool = createPool('step-worker', { maxThreads: disks + 2, minThreads: 0 });
  // The copy actors' threads start now and load while the other steps run,
  // so that every disk's copy starts at once.
  const copyPool = opts.printSourceOnly ? undefined : createPool('copy-worker', { maxThreads: disks, minThreads: disks });
  const actors: Actor[] = [];
  const inputs: Actor[] = [];
  let output: Actor | undefined;
  // Ctrl-C interrupts the actors that are working (a conversion, a disk
  // being checked, an output being set up). Actors that only serve (ready
  // overlays and targets) stay until the step using them has stopped, so
  // that a cancelled copy ends as cancelled rather than as a lost server;
  // cleanup then finishes them all.
  const serving = new Set<Actor>();
  const cancelAll = () => actors.filter((a) => !serving.has(a)).forEach((a) => a.cancel());
  signal?.addEventListener('abort', cancelAll, { once: true });
  const actor = (task: StepTaskBody, tags: { step: StepName; disk?: string }): Actor => {
    const a = startActor(stepPool, task, tags, (message) => emit({ type: 'warning', step: tags.step, message }));
    actors.push(a);
    if (signal?.aborted) a.cancel();
    return a;
  };
  let ok = false;
  try {
    workdir = await createWorkDir(opts.workParent);
    const wd = workdir;
    const what = opts.input.type === 'disk' ? `-i disk ${opts.input.files.join(' ')}` : `-i ${opts.input.type} ${opts.input.file}`;
    const metaIn = await step('input', `Setting up the source: ${what}`, async (log) => {
      const { config } = stepLog('input');
      inputs.push(
        ...source.disks.map(({ bus: _bus, ...disk }, index) =>
          actor({ type: 'input.serve', jobId: `input-in${index}`, workdir: wd.path, log: config, index, ...disk }, { step: 'input', disk: `in${index}` }),
        ),
      );
      const ready = await Promise.all(
        inputs.map(async (a) => {
          const r = await a.expect('input.ready');
          serving.add(a);
          return r;
        }),
      );
      if (signal?.aborted) throw new AbortError('input: cancelled');
      const m = await writeMetadataIn(
        wd,
        source.fields,
        ready.map((r, i) => ({ ...r.disk, bus: source.disks[i]!.bus })),
      );
      log.info({ metadataIn: m }, 'metadata.in written');
      return m;
    });
    if (opts.printSourceOnly) {
      ok = true;
      return { metadataIn: metaIn, files: [] };
    }
    const out = outputOptions!;

    const metaOut = await step('convert', opts.noConvert ? 'Copying without conversion (--no-convert)' : 'Converting the guest to run on KVM (virt-v2v-in-place)', async () => {
      const conv = actor(
        { type: 'convert.run', jobId: 'convert', workdir: wd.path, log: stepLog('convert').config, metadata: metaIn, name: out.name, noConvert: opts.noConvert },
        { step: 'convert' },
      );
      const r = await conv.done;
      if (!r.metadataOut) throw new EngineError('STATE_ERROR', 'convert: the actor returned no metadata.out');
      return r.metadataOut;
    });

    const targets = await step('output-setup', `Setting up the destination: -o ${out.type}${out.storage ? ` -os ${out.storage}` : ''}`, async () => {
      const { type, storage, format, allocation, name } = out;
      output = actor(
        {
          type: 'output.run',
          jobId: 'output',
          workdir: wd.path,
          log: stepLog('output').config,
          metadata: metaOut,
          options: { type, ...(storage !== undefined ? { storage } : {}), format, allocation, name },
        },
        { step: 'output-setup' },
      );
      const ready = await output.expect('output.ready');
      serving.add(output);
      return ready.targets;
    });

    await step('copy', `Copying ${metaIn.disks.length === 1 ? 'the disk' : `${metaIn.disks.length} disks in parallel`}`, async (log) => {
      const pool = copyPool!;
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.all(
          metaIn.disks.map(async (d) => {
            const disk = diskName(d.index);
            const target = targets.find((t) => t.index === d.index);
            if (!target) throw new EngineError('STATE_ERROR', `copy: no target for disk ${disk}`);
            const dl = stepLog('copy', disk);
            emit({ type: 'copy.started', disk, index: d.index, total: d.size, elapsed: elapsed() });
            log.info({ disk, log: dl.file }, 'disk copy started');
            try {
              await runCopyJob(
                pool,
                {
                  jobId: `copy-${disk}`,
                  disk,
                  source: { kind: 'nbd-uri', name: `source ${disk} (${d.source})`, uri: nbdUnixUri(wd.inSocket(d.index)) },
                  target:
                    target.uri === 'null:'
                      ? { kind: 'null', name: `target ${disk} null:` }
                      : { kind: 'nbd-uri', name: `target ${disk}`, uri: target.uri },
                  options: { ...copyOptions, targetIsZero: copyOptions.targetIsZero || target.knownZero },
                  log: dl.config,
                },
                {
                  signal: stop.signal,
                  onProgress: (done, total) => emit({ type: 'copy.progress', disk, index: d.index, done, total }),
                },
              );
            } catch (err) {
              // One disk failing stops the others: the job has failed.
              (err as EngineError).disk ??= disk;
              if (current?.disk === undefined) current = { step: 'copy', disk, file: dl.file }; // the first disk to fail
              stop.abort();
              throw err;
            }
            emit({ type: 'copy.finished', disk, index: d.index, elapsed: elapsed() });
            log.info({ disk }, 'disk copy finished');
          }),
        );
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) throw new AbortError('copy: cancelled');
    });

    const files = await step('output-finalize', 'Creating output metadata', async () => {
      output!.send({ type: 'step.finish' });
      try {
        return (await output!.done).files ?? [];
      } catch (err) {
        (err as EngineError).step = 'output-finalize';
        throw err;
      }
    });
    ok = true;
    return { metadataIn: metaIn, metadataOut: metaOut, files, ...(opts.logDir ? { logDir } : {}) };
  } catch (err) {
    // Once Ctrl-C has been pressed, whatever failed after it is the cancel.
    if (signal?.aborted && !isAbortError(err)) {
      const step = (err as EngineError).step ?? current?.step ?? 'job';
      err = new AbortError(`${step}: cancelled`, { cause: err });
    }
    const e = err as EngineError;
    if (current) {
      e.step ??= current.step;
      if (current.disk) e.disk ??= current.disk;
    }
    // A cancelled job keeps no logs, so it names none.
    const logNote = isAbortError(err) ? undefined : (current?.file ?? logDir);
    emit({
      type: 'error',
      ...(e.step ? { step: e.step as StepName } : {}),
      ...(e.disk ? { disk: e.disk } : {}),
      message: err instanceof Error ? err.message : String(err),
      ...(logNote ? { log: logNote } : {}),
    });
    if (logNote) (e as EngineError & { log?: string }).log = logNote;
    throw err;
  } finally {
    // Cleanup, always: servers, partial output, the work dir; our own log
    // dir only when the job succeeded.
    const { log } = stepLog('cleanup');
    emit({ type: 'step.started', step: 'cleanup', message: 'Finishing off', elapsed: elapsed() });
    // Inputs stop their overlays; after a failure every actor undoes its part
    // (the output removes its partial disks).
    signal?.removeEventListener('abort', cancelAll);
    for (const a of actors) {
      if (ok) a.send({ type: 'step.finish' });
      // The output actor's undo removes partial disks: give it time.
      else a.cancel(a === output ? 10_000 : 3000);
    }
    const ends = await Promise.allSettled(actors.map((a) => a.done));
    for (const e of ends) if (e.status === 'rejected' && ok) log.warn({ err: e.reason }, 'a step actor failed while finishing');
    await Promise.all([destroyPool(stepPool), copyPool && destroyPool(copyPool)]);
    // After a failure, whatever an actor could not undo (it was terminated)
    // is undone from the work dir's records.
    if (workdir && !ok) await removeUnfinishedOutput(workdir, log).catch((err: unknown) => log.warn({ err }, 'cleanup from the work dir failed'));
    await workdir?.remove();
    // Ctrl-C leaves nothing behind; a failure keeps its logs for the user.
    if (ownLogDir && (ok || signal?.aborted)) await ownLogDir.cleanup();
    emit({ type: 'step.finished', step: 'cleanup', elapsed: elapsed() });
  }
}
