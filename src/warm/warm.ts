// Warm migration (issue 11, the seed's aim (b)): the disks copied while the
// source runs, round after round of changed blocks, then at cutover the last
// changes, the in-place conversion of the target disks (commit on success)
// and output finalize: the same files a copying conversion writes. It is a
// driver over the one step contract, as the pipeline is:
//   begin:   input, convert --no-convert (metadata only), output setup,
//            copy of every disk, servers stopped, the partial targets kept
//            in the warm work dir (state.ts);
//   sync:    copyChanges (round.ts) into those targets;
//   cutover: copyChanges, then the targets served through commit overlays
//            in a new work dir with the source's metadata.in (the guest's
//            memory, CPUs, NICs), the convert step (which commits), and
//            output finalize in the warm dir; both dirs removed.
// Every round may run in a new process: the state file holds the rest.
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { parseJobOptions, type JobOptions, type JobOptionsInput } from '../engine/options.js';
import type { StepApi } from '../engine/step-api.js';
import { copy } from '../copy/copy.js';
import { silentLogger } from '../log/config.js';
import { createPool, destroyPool } from '../workers/pool.js';
import { stopByPidfile } from '../process/server-record.js';
import { pidfilesIn } from '../workdir/job-record.js';
import { readOutputState } from '../steps/output/state-file.js';
import { existingWorkDir, readMetadataIn, type WorkDir } from '../workdir/workdir.js';
import { copyChanges, type Changes } from './round.js';
import { checkNewState, readWarmState, writeWarmState, type WarmRound, type WarmState } from './state.js';
import { convertInPlace } from './cutover.js';
import { diskName } from '../util/drive-name.js';

export interface WarmEvents {
  onRound?(e: { round: number; kind: WarmRound['kind']; phase: 'started' } | ({ phase: 'finished' } & WarmRound)): void;
  onProgress?(e: { round: number; disk: string; done: number; total: number }): void;
  onWarning?(message: string): void;
  signal?: AbortSignal;
  log?: Logger;
}

export interface WarmApi {
  /** Create the targets and copy every disk once; writes the state file (which must not exist). */
  begin(stateFile: string, options: JobOptionsInput, e?: WarmEvents): Promise<WarmState>;
  /** Copy what changed since the last round. */
  sync(stateFile: string, changes: Changes, e?: WarmEvents): Promise<WarmState>;
  /** The last sync, the in-place conversion of the targets, output finalize. */
  cutover(stateFile: string, changes: Changes, e?: WarmEvents): Promise<WarmState>;
}

const WARM_INPUTS = ['disk', 'libvirtxml', 'libvirt'];

function checkWarmOptions(o: JobOptions): void {
  if (!WARM_INPUTS.includes(o.input.type)) throw new ConfigError(`warm: -i ${o.input.type}: only -i disk, -i libvirtxml and -i libvirt sources can be synced in rounds`);
  if (o.output.type !== 'local' && o.output.type !== 'qemu') throw new ConfigError(`warm: -o ${o.output.type}: warm migration writes -o local or -o qemu`);
  if (o.inPlace || o.printSourceOnly) throw new ConfigError('warm: --in-place and --print-source do not apply');
}

/** The options with absolute paths: later rounds may run from another directory. */
function absolutePaths(o: JobOptions): JobOptions {
  const abs = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : path.resolve(p));
  const input =
    o.input.type === 'disk' ? { ...o.input, files: o.input.files.map(abs) } : 'file' in o.input ? { ...o.input, file: abs(o.input.file) } : o.input;
  return {
    ...o,
    input,
    output: { ...o.output, ...(o.output.storage !== undefined && o.output.type !== 'libvirt' ? { storage: abs(o.output.storage) } : {}) },
    ...(o.workParent !== undefined ? { workParent: abs(o.workParent) } : {}),
    ...(o.logDir !== undefined ? { logDir: abs(o.logDir) } : {}),
  };
}

/** Stop every server W's pidfiles name (the round is over; the files stay). */
async function stopServers(w: WorkDir): Promise<void> {
  await Promise.all(pidfilesIn(w.path).map((p) => stopByPidfile(p, 3000)));
}

const now = () => new Date().toISOString();

export function warmApi(steps: StepApi, track: <T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>) => Promise<T>): WarmApi {
  /** A round of changes (sync or cutover's first part): the state's warm dir checked, the copies done, the round returned. */
  async function changesRound(s: WarmState, kind: 'sync' | 'cutover', changes: Changes, e: WarmEvents, signal: AbortSignal): Promise<{ w: WorkDir; round: WarmRound }> {
    if (s.state !== 'synced') throw new ConfigError(`warm ${kind}: the migration is finished already (cutover done)`);
    const w = await existingWorkDir(s.dir);
    const out = await readOutputState(w);
    if (!out || out.state !== 'setup') throw new ConfigError(`warm ${kind}: ${s.dir}: its targets are not set up (output.json)`);
    const meta = await readMetadataIn(w);
    const n = s.rounds.length;
    const started = now();
    const t0 = Date.now();
    e.onRound?.({ round: n, kind, phase: 'started' });
    const log = e.log ?? silentLogger();
    // The copy threads start now, while the servers start: a round's fixed cost.
    const pool = createPool('copy-worker', { maxThreads: meta.disks.length, minThreads: meta.disks.length });
    const disks = await copyChanges(w, meta, out, changes, { log, signal, pool, onProgress: (disk, done, total) => e.onProgress?.({ round: n, disk, done, total }) }).finally(() =>
      destroyPool(pool),
    );
    const round: WarmRound = {
      n,
      kind,
      started,
      finished: now(),
      seconds: (Date.now() - t0) / 1000,
      bytesChanged: disks.reduce((a, d) => a + d.bytesChanged, 0),
      bytesRead: disks.reduce((a, d) => a + d.bytesRead, 0),
    };
    return { w, round };
  }

  return {
    begin(stateFile, options, e = {}) {
      return track(e.signal, async (signal) => {
        const o = absolutePaths(parseJobOptions(options));
        checkWarmOptions(o);
        await checkNewState(stateFile);
        const started = now();
        const t0 = Date.now();
        e.onRound?.({ round: 0, kind: 'begin', phase: 'started' });
        const { workdir, metadata } = await steps.input({ ...o, inPlace: false, printSourceOnly: false }, { signal, ...(e.onWarning ? { onWarning: e.onWarning } : {}) });
        try {
          const name = o.name ?? metadata.name;
          await steps.convert(workdir, { signal, noConvert: true, name });
          const pairs = await steps.outputSetup(workdir, { ...o.output, name }, { signal });
          const stats = await Promise.all(
            pairs.map((p, i) => copy({ source: p.source, target: p.target, disk: diskName(i), jobId: `warm-begin-${i}`, signal, onProgress: (done, total) => e.onProgress?.({ round: 0, disk: diskName(i), done, total }) })),
          );
          await stopServers(await existingWorkDir(workdir));
          const round: WarmRound = {
            n: 0,
            kind: 'begin',
            started,
            finished: now(),
            seconds: (Date.now() - t0) / 1000,
            bytesChanged: metadata.disks.reduce((a, d) => a + d.size, 0),
            bytesRead: stats.reduce((a, s) => a + s.bytesRead, 0),
          };
          const s: WarmState = { version: 1, kind: 'v2v-warm', state: 'synced', options: o, dir: workdir, name, disks: metadata.disks.map((d) => ({ index: d.index, size: d.size })), rounds: [round] };
          await writeWarmState(stateFile, s);
          e.onRound?.({ phase: 'finished', ...round });
          return s;
        } catch (err) {
          await steps.cleanup(workdir).catch(() => {});
          throw err;
        }
      });
    },
    sync(stateFile, changes, e = {}) {
      return track(e.signal, async (signal) => {
        const s = await readWarmState(stateFile);
        const { round } = await changesRound(s, 'sync', changes, e, signal);
        const next: WarmState = { ...s, rounds: [...s.rounds, round] };
        await writeWarmState(stateFile, next);
        e.onRound?.({ phase: 'finished', ...round });
        return next;
      });
    },
    cutover(stateFile, changes, e = {}) {
      return track(e.signal, async (signal) => {
        const s = await readWarmState(stateFile);
        const { w, round } = await changesRound(s, 'cutover', changes, e, signal);
        const log = e.log ?? silentLogger();
        // The targets, converted in place (committed only if the conversion succeeds).
        const onConvertDir = (dir: string) => writeWarmState(stateFile, { ...s, convertDir: dir });
        await convertInPlace(w, s, { log, signal, onConvertDir, ...(e.onWarning ? { warn: e.onWarning } : {}) });
        const files = await steps.outputFinalize(w.path, { signal });
        await steps.cleanup(w.path);
        const { convertDir: _gone, ...rest } = s;
        const done: WarmState = { ...rest, state: 'done', rounds: [...s.rounds, round], files };
        await writeWarmState(stateFile, done);
        e.onRound?.({ phase: 'finished', ...round });
        return done;
      });
    },
  };
}
