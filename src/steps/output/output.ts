// The output step, setup and finalize, for -o local, -o qemu and -o null
// (seed steps 3 and 5). Setup creates the target disks under partial names
// and serves them on the work dir's out<N> sockets; finalize stops the
// servers, moves the disks to their final names and writes the metadata file
// (NAME.xml or NAME.sh) last, so a complete-looking output is a complete one.
// Any failure, and outputAbort, removes every file this job created and
// nothing else: names are reserved with O_EXCL before anything is written.
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AbortError, ConfigError, InputError } from '../../errors.js';
import { MetadataOut as MetadataOutSchema, type MetadataOut } from '../../metadata/schema.js';
import { adoptServer, type Server } from '../../process/server.js';
import { NOT_UTF8, isCleanText, showText } from '../../util/text.js';
import { formatZodError } from '../../util/zod.js';
import type { WorkDir } from '../../workdir/workdir.js';
import {
  PARTIAL_SUFFIX,
  createDisk,
  diskPaths,
  exists,
  fsyncPath,
  renameNoReplace,
  reserve,
  serveDisk,
  writeFileNoReplace,
  type DiskPaths,
} from './disks.js';
import { libvirtXml, type OutputDiskRef } from './libvirt-xml.js';
import { readOutputState, writeOutputState, type OutputStateFile } from './state-file.js';
import { LONGEST_DISK_INDEX, METADATA_FILE, NAME_MAX, nameLengthProblem, type FileOutputType } from './names.js';
import { diskBaseName, diskNameTest, diskPatternProblem } from './disk-names.js';
import { compressedProblem, compressedSizeProblem } from './compressed.js';
import { findOvmf, requireOvmf } from './ovmf.js';
import { jsonMetadata } from './json-metadata.js';
import { kubeNameProblem, kubevirtYaml } from './kubevirt-yaml.js';
import { qemuScript } from './qemu-script.js';

export type OutputType = FileOutputType | 'null';

export interface OutputOptions {
  type: OutputType;
  /** -os DIR, required for local and qemu. */
  storage?: string;
  /** -of */
  format: 'raw' | 'qcow2';
  /** -oa */
  allocation: 'sparse' | 'preallocated';
  /** -oo compressed: a compressed qcow2 (compressed.ts). */
  compressed?: boolean;
  /** -o json's -oo json-disks-pattern (disk-names.ts). */
  diskPattern?: string;
  /** -on, else the source name. */
  name: string;
  /** Servers outlive this process (`v2v output setup`); see StartOptions.detach. */
  detach?: boolean;
}

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

function metadataFile(o: OutputOptions): string | undefined {
  return o.type === 'null' ? undefined : path.resolve(o.storage!, `${o.name}${METADATA_FILE[o.type].suffix}`);
}

/** Names the output of guest NAME may write in its directory: NAME-sd<letters>, NAME.xml|sh, their partials. */
function isOurName(o: OutputOptions, entry: string): boolean {
  const base = entry.startsWith('.') && entry.endsWith(PARTIAL_SUFFIX) ? entry.slice(1, -PARTIAL_SUFFIX.length) : entry;
  const rest = base.startsWith(o.name) ? base.slice(o.name.length) : undefined;
  return diskNameTest(o.name, o.diskPattern).test(base) || (o.type !== 'null' && rest === METADATA_FILE[o.type].suffix);
}

/**
 * Check the output options before anything is done: the name makes file
 * names that fit NAME_MAX (names.ts), name and -os are valid UTF-8 text,
 * -os is given, is a writable directory, and holds nothing this output
 * would write (virt-v2v refuses to overwrite). The disk count is not known yet, so every
 * NAME-sd<letters> counts; setup checks the exact names again.
 */
export function checkOutputOptions(o: OutputOptions): void {
  if (o.type !== 'null' && !Object.hasOwn(METADATA_FILE, o.type)) throw new ConfigError(`-o ${String(o.type)}: unknown output mode`);
  if (o.type === 'null') return;
  if (o.format !== 'raw' && o.format !== 'qcow2') {
    throw new ConfigError(`-of ${String(o.format)}: -o ${o.type} writes raw or qcow2 only`);
  }
  if (o.allocation !== 'sparse' && o.allocation !== 'preallocated') {
    throw new ConfigError(`-oa ${String(o.allocation)}: expected sparse or preallocated`);
  }
  if (o.diskPattern !== undefined) {
    if (o.type !== 'json') throw new ConfigError(`-o ${o.type}: unknown output option ‘-oo json-disks-pattern’`);
    const bad = diskPatternProblem(o.diskPattern);
    if (bad !== undefined) throw new ConfigError(bad);
    const longest = `.${diskBaseName(o.name, LONGEST_DISK_INDEX, o.diskPattern)}${PARTIAL_SUFFIX}`;
    if (Buffer.byteLength(longest) > NAME_MAX) {
      throw new ConfigError(`-o json: -oo json-disks-pattern=${o.diskPattern}: names such as ${longest} would not fit in ${NAME_MAX} bytes`);
    }
  }
  const notCompressed = compressedProblem(o);
  if (notCompressed !== undefined) throw new ConfigError(notCompressed);
  // The name becomes file names, an XML text and a qemu option value.
  if (!o.name || o.name.includes('/') || /[\u0000-\u001f\u007f]/.test(o.name) || o.name === '.' || o.name === '..') {
    throw new ConfigError(`-on ${JSON.stringify(o.name)}: a guest name must be non-empty, without "/" or control characters`);
  }
  if (!isCleanText(o.name)) throw new ConfigError(`-on ${showText(o.name)}: ${NOT_UTF8}`);
  if (o.type === 'kubevirt') {
    const bad = kubeNameProblem(o.name);
    if (bad !== undefined) throw new ConfigError(bad);
    if (o.format !== 'raw') throw new ConfigError(`-o kubevirt: -of ${o.format}: KubeVirt's hostDisk volumes are raw disk images (-of raw)`);
  }
  const tooLong = nameLengthProblem(o.type, o.name);
  if (tooLong !== undefined) throw new ConfigError(tooLong);
  if (o.storage === undefined || o.storage === '') {
    throw new ConfigError(`-o ${o.type}: output directory was not specified, use '-os /dir'`);
  }
  if (!isCleanText(o.storage)) throw new ConfigError(`-os ${showText(o.storage)}: ${NOT_UTF8}`);
  const dir = path.resolve(o.storage);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new InputError(`-os ${o.storage}: output directory does not exist`);
  }
  if (!st.isDirectory()) throw new InputError(`-os ${o.storage}: not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new InputError(`-os ${o.storage}: output directory is not writable`);
  }
  const clash = readdirSync(dir)
    .filter((e) => isOurName(o, e))
    .sort()
    .map((e) => path.join(dir, e));
  if (clash.length) {
    throw new InputError(
      `-o ${o.type}: ${clash.join(', ')} already ${clash.length === 1 ? 'exists' : 'exist'}: virt-v2v does not overwrite; remove ${clash.length === 1 ? 'it' : 'them'} or choose another name with -on`,
    );
  }
}

type FileState = 'none' | 'partial' | 'final';

/** What one job's output has created so far: everything an abort must undo. */
interface State {
  o: OutputOptions;
  disks: (DiskPaths & { state: FileState })[];
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

async function saveState(w: WorkDir, state: State, targets: OutputTarget[], phase: OutputStateFile['state']): Promise<void> {
  state.workdir = w;
  const { type, storage, format, allocation, compressed, diskPattern, name } = state.o;
  const file: OutputStateFile = {
    version: 1,
    kind: 'v2v-output-state',
    state: phase,
    options: { type, ...(storage !== undefined ? { storage: realpathSync(storage) } : {}), format, allocation, ...(compressed ? { compressed } : {}), ...(diskPattern !== undefined ? { diskPattern } : {}), name },
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
  const state: State = {
    o,
    disks: f.disks.map((d) => ({ ...d, state: 'partial' as FileState })),
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
const states = new WeakMap<OutputSetup, State>();
const byOptions = new WeakMap<OutputOptions, State>();

function checkMeta(meta: MetadataOut): MetadataOut {
  const r = MetadataOutSchema.safeParse(meta);
  if (!r.success) throw new ConfigError(`output: bad metadata: ${formatZodError(r.error)}`);
  const seen = new Set<number>();
  for (const d of r.data.disks) {
    if (seen.has(d.index)) throw new ConfigError(`output: disk index ${d.index} appears twice in the metadata`);
    seen.add(d.index);
  }
  return r.data;
}

async function stopServers(servers: Server[], graceMs?: number): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop(graceMs)));
}

/** Stop everything and remove every file of this job unless finalize finished. Never throws. */
async function undo(state: State, log: Logger, graceMs?: number): Promise<void> {
  for (const c of state.children) c.kill('SIGKILL');
  state.ac.abort();
  await stopServers(state.servers, graceMs);
  if (state.done) return;
  const files: string[] = [];
  for (const d of state.disks) {
    if (d.state === 'partial') files.push(d.partial);
    if (d.state === 'final') files.push(d.final);
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

function check(state: State): void {
  if (state.aborted) throw new AbortError('output: cancelled');
}

export async function outputSetup(meta: MetadataOut, o: OutputOptions, workdir: WorkDir, log: Logger): Promise<OutputSetup> {
  const state: State = {
    o,
    disks: [],
    metaState: 'none',
    servers: [],
    children: new Set(),
    ac: new AbortController(),
    aborted: false,
    done: false,
  };
  byOptions.set(o, state);
  const body = async (): Promise<OutputSetup> => {
    meta = checkMeta(meta);
    if (o.type === 'null') {
      const targets = meta.disks.map((d) => ({ index: d.index, uri: 'null:', knownZero: true }));
      await saveState(workdir, state, targets, 'setup');
      return { targets, servers: [], options: o };
    }
    checkOutputOptions(o);
    // A UEFI guest needs OVMF here (virt-v2v: error_unless_uefi_firmware), before any disk exists.
    if (meta.firmware === 'uefi' && (o.type === 'local' || o.type === 'qemu')) requireOvmf();
    const oddSize = compressedSizeProblem(o, meta.disks);
    if (oddSize !== undefined) throw new ConfigError(oddSize);
    state.disks = meta.disks.map((d) => ({ ...diskPaths(o.storage!, o.name, d.index, o.diskPattern), state: 'none' as FileState }));
    for (const f of [...state.disks.map((d) => d.final), metadataFile(o)!]) {
      if (await exists(f)) throw new InputError(`${f} already exists: virt-v2v does not overwrite; remove it or choose another name with -on`);
    }
    for (const [i, d] of state.disks.entries()) {
      check(state);
      await reserve(d.partial);
      d.state = 'partial';
      check(state);
      await createDisk(d.partial, o.format, o.allocation, meta.disks[i]!.size, state.children, log);
      log.debug({ file: d.partial, format: o.format, allocation: o.allocation, size: meta.disks[i]!.size }, 'created output disk');
    }
    const started = await Promise.allSettled(
      state.disks.map(async (d) => {
        const s = await serveDisk(d.partial, o.compressed ? 'compressed-qcow2' : o.format, d.index, workdir, log, state.ac.signal, o.detach === true);
        state.servers.push(s);
        return s;
      }),
    );
    const servers: Server[] = [];
    for (const r of started) {
      if (r.status === 'rejected') throw r.reason;
      servers.push(r.value);
    }
    // New disks read as zero, preallocated ones too (full preallocation writes zeroes).
    const targets = state.disks.map((d, i) => ({ index: d.index, uri: servers[i]!.uri, knownZero: true }));
    await saveState(workdir, state, targets, 'setup');
    return { targets, servers, options: o };
  };
  const run = (async () => {
    try {
      const setup = await body();
      check(state);
      states.set(setup, state);
      return setup;
    } catch (err) {
      await undo(state, log);
      throw err;
    }
  })();
  state.busy = run;
  return run;
}

export async function outputFinalize(meta: MetadataOut, o: OutputOptions, setup: OutputSetup, log: Logger): Promise<string[]> {
  const state = states.get(setup);
  if (!state) throw new ConfigError('output finalize: this setup was not made by outputSetup (or was aborted)');
  check(state);
  const run = (async () => {
    try {
      meta = checkMeta(meta);
      const want = meta.disks.map((d) => d.index).join(',');
      if (want !== setup.targets.map((t) => t.index).join(',')) {
        throw new ConfigError(`output finalize: the metadata's disks (${want}) are not the disks set up`);
      }
      // Servers first: nbdkit and qemu-nbd write their last data and qcow2
      // metadata and close the files before anything is renamed.
      await stopServers(state.servers);
      check(state);
      if (o.type === 'null') {
        state.done = true;
        if (state.workdir) await saveState(state.workdir, state, setup.targets, 'finalized');
        return [];
      }
      for (const d of state.disks) await fsyncPath(d.partial);
      check(state);
      for (const d of state.disks) {
        await renameNoReplace(d.partial, d.final);
        d.state = 'final';
        log.debug({ file: d.final }, 'output disk complete');
      }
      const refs: OutputDiskRef[] = [...state.disks]
        .sort((a, b) => a.index - b.index)
        .map((d) => ({ index: d.index, path: d.final, format: o.format }));
      const file = metadataFile(o)!;
      const content = metadataContent(meta, o as OutputOptions & { type: FileOutputType }, refs);
      check(state);
      state.metaFinal = file;
      await writeFileNoReplace(file, content, METADATA_FILE[o.type].mode, (partial) => {
        state.metaPartial = partial;
        state.metaState = 'partial';
      });
      state.metaState = 'final';
      await fsyncPath(path.dirname(file));
      state.done = true;
      if (state.workdir) await saveState(state.workdir, state, setup.targets, 'finalized');
      const written = [...refs.map((r) => r.path), file];
      log.info({ files: written }, 'output written');
      return written;
    } catch (err) {
      await undo(state, log);
      throw err;
    }
  })();
  state.busy = run;
  return run;
}

/** The metadata file's text for each file output. */
function metadataContent(meta: MetadataOut, o: OutputOptions & { type: FileOutputType }, refs: OutputDiskRef[]): string {
  switch (o.type) {
    case 'local':
      return libvirtXml(meta, o.name, refs);
    case 'qemu':
      // The pair found here (setup checked there is one); a script naming absent files would not boot.
      return qemuScript(meta, o.name, refs, meta.firmware === 'uefi' ? requireOvmf() : findOvmf());
    case 'json':
      return jsonMetadata(meta, o.name, refs);
    case 'kubevirt':
      return kubevirtYaml(meta, o.name, refs);
  }
}

/**
 * On failure or Ctrl-C: kill what runs, stop the servers, remove every file
 * this job created (partial or already renamed) unless finalize finished.
 * Never throws.
 */
export async function outputAbort(o: OutputOptions, setup: OutputSetup | undefined, log: Logger): Promise<void> {
  try {
    const state = setup ? states.get(setup) : byOptions.get(o);
    if (!state) {
      if (setup) await stopServers(setup.servers, 1000);
      return;
    }
    state.aborted = true;
    for (const c of state.children) c.kill('SIGKILL');
    state.ac.abort();
    // A client still connected keeps nbdkit 1.32 from exiting on SIGTERM.
    await stopServers(state.servers, 1000);
    await state.busy?.catch(() => {});
    await undo(state, log, 1000);
  } catch (err) {
    log.warn({ err }, 'output abort failed');
  }
}
