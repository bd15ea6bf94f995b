// What one job's output has made so far, and how to undo it: the target
// disks (files under partial or final names, or -o libvirt volumes), the
// metadata file's names, the servers. output.json records it for another
// process (`v2v output finalize DIR`, `v2v cleanup DIR`); resumeOutput takes
// it over from there. Undo removes everything this job created and nothing
// else, unless finalize finished.
import type { ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AbortError, ConfigError, InputError } from '../../errors.js';
import { MetadataOut as MetadataOutSchema, type MetadataOut } from '../../metadata/schema.js';
import { adoptServer, type Server } from '../../process/server.js';
import { formatZodError } from '../../util/zod.js';
import type { WorkDir } from '../../workdir/workdir.js';
import type { OutputOptions } from './check.js';
import type { DiskPaths } from './disks.js';
import { deleteVolume, type LibvirtTarget } from './libvirt/target.js';
import { readOutputState, writeOutputState, type OutputStateFile } from './state-file.js';

export interface OutputTarget {
  index: number;
  /** NBD URI of the served target disk, or 'null:' for -o null. */
  uri: string;
  /** The new disk reads as zero (sparse or preallocated-zero): the copy writes no zeroes. */
  knownZero: boolean;
}

export interface OutputSetup {
  targets: OutputTarget[];
  servers: Server[];
  /** The options it was set up with (finalize and undo need them). */
  options: OutputOptions;
}

export type FileState = 'none' | 'partial' | 'final';

/** A target disk: a file (partial, then final name) or a libvirt volume (one name, final and partial alike). */
export type Disk = DiskPaths & { state: FileState; volume?: string };

/** What one job's output has created so far: everything an abort must undo. */
export interface State {
  o: OutputOptions;
  disks: Disk[];
  /** -o libvirt: the connection and pool the volumes are in. */
  libvirt?: LibvirtTarget;
  /** The metadata file's partial name once reserved. */
  metaPartial?: string;
  metaFinal?: string;
  metaState: FileState;
  servers: Server[];
  children: Set<ChildProcess>;
  ac: AbortController;
  aborted: boolean;
  /** Finalize succeeded: the output is the user's now, never removed. */
  done: boolean;
  busy?: Promise<unknown>;
  /** Where output.json records this state for another process (step subcommands). */
  workdir?: WorkDir;
}

export async function saveState(w: WorkDir, state: State, targets: OutputTarget[], phase: OutputStateFile['state']): Promise<void> {
  state.workdir = w;
  const { type, storage, connection, format, allocation, compressed, diskPattern, name } = state.o;
  const lv = state.libvirt;
  const file: OutputStateFile = {
    version: 1,
    kind: 'v2v-output-state',
    state: phase,
    options: {
      type,
      ...(storage !== undefined ? { storage: type === 'libvirt' ? storage : realpathSync(storage) } : {}),
      ...(connection !== undefined ? { connection } : {}),
      format,
      allocation,
      ...(compressed ? { compressed } : {}),
      ...(diskPattern !== undefined ? { diskPattern } : {}),
      name,
    },
    ...(lv ? { libvirt: { uri: lv.uri, pool: lv.pool, poolPath: lv.poolPath } } : {}),
    disks: state.disks.map(({ index, final, partial }) => ({ index, final, partial })),
    targets,
  };
  await writeOutputState(w, file);
}

/**
 * Take over an output set up by another process (`v2v output setup DIR`):
 * its servers by their pidfiles, its partial disks by name. The result goes
 * to outputFinalize or outputAbort like one from outputSetup.
 */
export async function resumeOutput(w: WorkDir): Promise<{ options: OutputOptions; setup: OutputSetup }> {
  const f = await readOutputState(w);
  if (!f) throw new InputError(`${w.path}: output setup has not run here (no output.json)`);
  if (f.state === 'finalized') throw new InputError(`${w.path}: the output is finalized already`);
  const o: OutputOptions = { ...f.options };
  const servers = o.type === 'null' ? [] : f.disks.map((d) => adoptServer(w.path, `out${d.index}`, w.outSocket(d.index)));
  const lv = f.libvirt;
  const state: State = {
    o,
    disks: f.disks.map((d) => ({ ...d, state: 'partial' as FileState, ...(lv ? { volume: path.basename(d.final) } : {}) })),
    ...(lv ? { libvirt: { ...(o.connection !== undefined ? { connection: o.connection } : {}), ...lv } } : {}),
    metaState: 'none',
    servers,
    children: new Set(),
    ac: new AbortController(),
    aborted: false,
    done: false,
    workdir: w,
  };
  const setup: OutputSetup = { targets: f.targets, servers, options: o };
  states.set(setup, state);
  return { options: o, setup };
}

// By setup, and by options object for outputAbort(o, undefined): a Ctrl-C
// while setup runs, before the caller has a setup to pass.
export const states = new WeakMap<OutputSetup, State>();
export const byOptions = new WeakMap<OutputOptions, State>();

export function checkMeta(meta: MetadataOut): MetadataOut {
  const r = MetadataOutSchema.safeParse(meta);
  if (!r.success) throw new ConfigError(`output: bad metadata: ${formatZodError(r.error)}`);
  const seen = new Set<number>();
  for (const d of r.data.disks) {
    if (seen.has(d.index)) throw new ConfigError(`output: disk index ${d.index} appears twice in the metadata`);
    seen.add(d.index);
  }
  return r.data;
}

export async function stopServers(servers: Server[], graceMs?: number): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop(graceMs)));
}

/** Remove one disk this job created: a volume through libvirt (its file if libvirt cannot), else the file. */
async function removeDisk(state: State, d: Disk, log: Logger): Promise<void> {
  const file = d.state === 'final' ? d.final : d.partial;
  if (state.libvirt && d.volume !== undefined) {
    try {
      await deleteVolume(state.libvirt, d.volume);
      log.debug({ volume: d.volume, pool: state.libvirt.pool }, 'deleted volume');
      return;
    } catch (err) {
      log.warn({ volume: d.volume, err }, 'libvirt could not delete the volume: removing its file');
    }
  }
  await rm(file, { force: true });
  log.debug({ file }, 'removed');
}

/** Stop everything and remove every file and volume of this job unless finalize finished. Never throws. */
export async function undo(state: State, log: Logger, graceMs?: number): Promise<void> {
  for (const c of state.children) c.kill('SIGKILL');
  state.ac.abort();
  await stopServers(state.servers, graceMs);
  if (state.done) return;
  const files: string[] = [];
  for (const d of state.disks) {
    if (d.state !== 'none') {
      try {
        await removeDisk(state, d, log);
      } catch (err) {
        log.warn({ file: d.partial, err }, 'could not remove a partial output disk');
      }
    }
    d.state = 'none';
  }
  if (state.metaState === 'partial' && state.metaPartial) files.push(state.metaPartial);
  if (state.metaState === 'final' && state.metaFinal) files.push(state.metaFinal);
  state.metaState = 'none';
  for (const f of files) {
    try {
      await rm(f, { force: true });
      log.debug({ file: f }, 'removed');
    } catch (err) {
      log.warn({ file: f, err }, 'could not remove a partial output file');
    }
  }
}

export function check(state: State): void {
  if (state.aborted) throw new AbortError('output: cancelled');
}

