// The output step, setup and finalize, for every -o mode (seed steps 3 and
// 5). Setup creates the target disks, files under partial names in -os DIR
// or (-o libvirt) volumes of the pool, and serves them on the work dir's
// out<N> sockets; finalize stops the servers, moves files to their final
// names and writes the metadata file (NAME.xml, .sh, .json, .yaml) or
// defines the libvirt domain last, so a complete-looking output is a
// complete one. Any failure, and outputAbort, removes every file and volume
// this job created and nothing else: file names are reserved with O_EXCL,
// volumes made by vol-create, which fails on an existing name.
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, InputError } from '../../errors.js';
import type { MetadataOut } from '../../metadata/schema.js';
import type { Server } from '../../process/server.js';
import type { WorkDir } from '../../workdir/workdir.js';
import { checkOutputOptions, metadataFile, type OutputOptions } from './check.js';
import {
  createDisk,
  diskPaths,
  exists,
  fsyncPath,
  renameNoReplace,
  reserve,
  serveDisk,
  writeFileNoReplace,
} from './disks.js';
import { guestArch, libvirtXml, type OutputDiskRef } from './libvirt-xml.js';
import { byOptions, check, checkMeta, saveState, states, stopServers, undo, type FileState, type OutputSetup, type State } from './output-state.js';
import { METADATA_FILE, type FileOutputType } from './names.js';
import { compressedSizeProblem } from './compressed.js';
import { diskBaseName } from './disk-names.js';
import { findOvmf, requireOvmf } from './ovmf.js';
import { jsonMetadata } from './json-metadata.js';
import { kubevirtYaml } from './kubevirt-yaml.js';
import { qemuScript } from './qemu-script.js';
import { createVolume, defineDomain, domainTypeFor, refreshPool } from './libvirt/target.js';

export { checkOutputOptions, type OutputOptions, type OutputType } from './check.js';
export { resumeOutput, type OutputSetup, type OutputTarget } from './output-state.js';

/** Make every target disk: volumes of the pool (-o libvirt), else files under their partial names. */
async function createDisks(state: State, meta: MetadataOut, workdir: WorkDir, log: Logger): Promise<void> {
  const o = state.o;
  for (const [i, d] of state.disks.entries()) {
    check(state);
    const size = meta.disks[i]!.size;
    if (state.libvirt) {
      // Partial from the request on: a cancelled vol-create may still have made it.
      d.state = 'partial';
      try {
        await createVolume(state.libvirt, { name: d.volume!, size, format: o.format, allocation: o.allocation }, workdir.path, state.ac.signal);
      } catch (err) {
        if (!state.ac.signal.aborted) d.state = 'none';
        throw err;
      }
    } else {
      await reserve(d.partial);
      d.state = 'partial';
      check(state);
      await createDisk(d.partial, o.format, o.allocation, size, state.children, log);
    }
    log.debug({ file: d.partial, format: o.format, allocation: o.allocation, size }, 'created output disk');
  }
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
    const lv = await checkOutputOptions(o, state.ac.signal);
    // A UEFI guest needs OVMF on this host (virt-v2v: error_unless_uefi_firmware), before any disk exists.
    if (meta.firmware === 'uefi' && (o.type === 'local' || o.type === 'qemu' || o.type === 'libvirt')) requireOvmf();
    const oddSize = compressedSizeProblem(o, meta.disks);
    if (oddSize !== undefined) throw new ConfigError(oddSize);
    if (lv) {
      state.libvirt = lv;
      state.disks = meta.disks.map((d) => {
        const volume = diskBaseName(o.name, d.index);
        const file = path.join(lv.poolPath, volume);
        return { index: d.index, final: file, partial: file, volume, state: 'none' as FileState };
      });
    } else {
      state.disks = meta.disks.map((d) => ({ ...diskPaths(o.storage!, o.name, d.index, o.diskPattern), state: 'none' as FileState }));
      for (const f of [...state.disks.map((d) => d.final), metadataFile(o)!]) {
        if (await exists(f)) throw new InputError(`${f} already exists: virt-v2v does not overwrite; remove it or choose another name with -on`);
      }
    }
    await createDisks(state, meta, workdir, log);
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

/** -o libvirt's last act: the pool refreshed, the domain defined from its volumes. */
async function defineGuest(state: State, meta: MetadataOut, log: Logger, warn: (m: string) => void): Promise<string[]> {
  const lv = state.libvirt!;
  const o = state.o;
  try {
    await refreshPool(lv);
  } catch (err) {
    warn(`could not refresh libvirt pool ‘${lv.pool}’: ${(err as Error).message}`);
  }
  const arch = guestArch(meta.os);
  const domainType = await domainTypeFor(lv, arch, state.ac.signal);
  if (domainType === 'qemu') warn(`the target hypervisor does not support a ${arch} KVM guest: ‘${o.name}’ is defined with type='qemu' (emulated, slow)`);
  const refs: OutputDiskRef[] = [...state.disks]
    .sort((a, b) => a.index - b.index)
    .map((d) => ({ index: d.index, path: d.final, format: o.format, volume: { pool: lv.pool, name: d.volume! } }));
  const xml = libvirtXml(meta, o.name, refs, { domainType });
  check(state);
  await defineDomain(lv, o.name, xml, state.workdir!.path, state.ac.signal);
  state.done = true;
  log.info({ domain: o.name, pool: lv.pool, uri: lv.uri, volumes: refs.map((r) => r.path) }, 'libvirt domain defined');
  return refs.map((r) => r.path);
}

/** The file outputs' last acts: the disks renamed to their final names, the metadata file written last. */
async function writeFiles(state: State, meta: MetadataOut, log: Logger): Promise<string[]> {
  const o = state.o as OutputOptions & { type: FileOutputType };
  for (const d of state.disks) {
    await renameNoReplace(d.partial, d.final);
    d.state = 'final';
    log.debug({ file: d.final }, 'output disk complete');
  }
  const refs: OutputDiskRef[] = [...state.disks]
    .sort((a, b) => a.index - b.index)
    .map((d) => ({ index: d.index, path: d.final, format: o.format }));
  const file = metadataFile(o)!;
  const content = metadataContent(meta, o, refs);
  check(state);
  state.metaFinal = file;
  await writeFileNoReplace(file, content, METADATA_FILE[o.type].mode, (partial) => {
    state.metaPartial = partial;
    state.metaState = 'partial';
  });
  state.metaState = 'final';
  await fsyncPath(path.dirname(file));
  state.done = true;
  const written = [...refs.map((r) => r.path), file];
  log.info({ files: written }, 'output written');
  return written;
}

export async function outputFinalize(
  meta: MetadataOut,
  o: OutputOptions,
  setup: OutputSetup,
  log: Logger,
  warn: (message: string) => void = (m) => log.warn(m),
): Promise<string[]> {
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
      let written: string[] = [];
      if (o.type === 'null') state.done = true;
      else {
        for (const d of state.disks) await fsyncPath(d.partial);
        check(state);
        written = state.libvirt ? await defineGuest(state, meta, log, warn) : await writeFiles(state, meta, log);
      }
      if (state.workdir) await saveState(state.workdir, state, setup.targets, 'finalized');
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
 * and volume this job created (partial or already renamed) unless finalize
 * finished. Never throws.
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
