// The inputs that read a guest's metadata file (`-i libvirtxml`, `-i vmx`,
// `-i ova`): parse it (src/steps/input/<kind>/), apply the network mapping
// options, and say which disks the input step serves. The disks then go
// through the same overlays as `-i disk`; a disk inside an uncompressed OVA
// is read in place (qemu's raw offset/size), a gzip one decompressed into
// the work dir, a remote one (NBD, HTTP(S)) fronted by nbdkit's nbd or curl
// plugin. With `-it ssh` (-i vmx only) the .vmx and its flat disks are on
// another host, read over SSH (vmx/ssh.ts) and fronted by nbdkit's ssh
// plugin.
import { open } from 'node:fs/promises';
import type { Logger } from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { ConfigError, InputError } from '../../errors.js';
import type { NicIn } from '../../metadata/schema.js';
import type { GuestFields } from './disk.js';
import { applyNetworkMap, parseNetworkMap, readLibvirtXml, type NetworkMapOptions } from './libvirtxml/parse.js';
import type { SourceDisk, SourceGuest } from './source.js';
import { readOva } from './ova/ova.js';
import type { DiskSource } from './serve.js';
import { readVmx } from './vmx/parse.js';
import { readVmxOverSsh } from './vmx/ssh.js';

export type SourceInputType = 'libvirtxml' | 'vmx' | 'ova';

export interface SourceInput {
  type: SourceInputType;
  /** The guest's metadata file: domain XML or .vmx. */
  file: string;
  network?: NetworkMapOptions;
  /** -it ssh: `file` is ssh://[user@]host[:port]/path (-i vmx only). */
  transport?: 'ssh';
  /** -ip FILE: the SSH password, in a file (never on a command line). */
  passwordFile?: string;
}

/** A local path, or a URI our input actor can front (nbd, nbd+unix, http, https; ssh with -it ssh). */
function diskLocation(input: SourceInput, d: SourceDisk, i: number): string {
  const file = input.file;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(d.location)?.[1]?.toLowerCase();
  const fronted = input.transport === 'ssh' ? ['ssh'] : ['nbd', 'nbd+unix', 'http', 'https'];
  if (scheme !== undefined && !fronted.includes(scheme)) {
    const err = new InputError(`input: ${file}: disk ${i + 1} (${d.location}): ${scheme}:// disks are not supported`);
    err.step = 'input';
    throw err;
  }
  return d.location;
}

/** A disk as the input step takes it (serve.ts), and the bus the source gave it. */
export type DiskSpec = Omit<DiskSource, 'index'> & { bus: SourceDisk['bus'] };

export interface SourceRead {
  guest: SourceGuest;
  fields: GuestFields;
  /** One per disk, in the guest's order. */
  disks: DiskSpec[];
  warnings: string[];
  /** Removes what reading made (an unpacked OVA), once nothing reads the disks. */
  cleanup?: () => Promise<void>;
}

/** Whether FILE starts with gzip's magic (a whole-gzip OVA). */
async function isGzip(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
      return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
    } finally {
      await fh.close();
    }
  } catch {
    return false; // a directory, or a file readOva will name in its error
  }
}

/**
 * Read the source's metadata. A gzip-compressed OVA is unpacked into a
 * private temp dir (under `scratch`, default $TMPDIR) that lives until the
 * caller calls `cleanup` (after the disks' servers are stopped).
 */
export async function readSource(input: SourceInput, log: Logger, signal?: AbortSignal, scratch?: string): Promise<SourceRead> {
  let unpacked: { path: string; cleanup: () => Promise<void> } | undefined;
  if (input.type === 'ova' && (await isGzip(input.file))) {
    unpacked = await tmpDir({ prefix: 'v2v-ova-', mode: 0o700, unsafeCleanup: true, ...(scratch ? { tmpdir: scratch } : {}) });
  }
  try {
    const read = await readSourceIn(input, log, signal, unpacked?.path);
    return unpacked ? { ...read, cleanup: unpacked.cleanup } : read;
  } catch (err) {
    await unpacked?.cleanup();
    throw err;
  }
}

async function readSourceIn(input: SourceInput, log: Logger, signal: AbortSignal | undefined, extractDir: string | undefined): Promise<SourceRead> {
  const warnings: string[] = [];
  const map = parseNetworkMap(input.network ?? { bridges: [], networks: [], macs: [] });
  if (input.transport === 'ssh' && input.type !== 'vmx') throw new ConfigError(`-it ssh: only for -i vmx, not -i ${input.type}`);
  if (input.passwordFile !== undefined && input.transport !== 'ssh') throw new ConfigError('-ip: only with -it ssh');
  const warn = (m: string) => {
    warnings.push(m);
    log.warn({ warning: m }, 'vmx');
  };
  const guest =
    input.type === 'libvirtxml'
      ? await readLibvirtXml(input.file)
      : input.type === 'ova'
        ? await readOva(input.file, { ...(signal ? { signal } : {}), ...(extractDir ? { extractDir } : {}) })
        : input.transport === 'ssh'
          ? await readVmxOverSsh(input.file, {
            warn,
            log,
            ...(input.passwordFile !== undefined ? { passwordFile: input.passwordFile } : {}),
            ...(signal ? { signal } : {}),
          })
          : await readVmx(input.file, { warn });
  if (guest.disks.length === 0) throw new ConfigError(`input: ${input.file}: the guest has no disks`);
  const nics: NicIn[] = applyNetworkMap(guest.nics, map).map((n) => ({
    vnet: n.vnet,
    vnetType: n.vnetType,
    ...(n.mac ? { mac: n.mac } : {}),
    ...(n.model ? { model: n.model } : {}),
  }));
  const disks = guest.disks.map((d, i) => ({
    file: diskLocation(input, d, i),
    ...(d.format ? { format: d.format } : {}),
    bus: d.bus,
    ...(d.tarRange ? { tarRange: d.tarRange } : {}),
    ...(d.compressed ? { compressed: d.compressed } : {}),
    ...(d.capacity !== undefined ? { capacity: d.capacity } : {}),
    ...(input.transport === 'ssh' && input.passwordFile !== undefined ? { passwordFile: input.passwordFile } : {}),
  }));
  log.info({ guest, disks }, `input: ${input.file}: ${guest.disks.length} disk(s), ${guest.removables.length} removable(s), ${nics.length} NIC(s)`);
  return {
    guest,
    fields: { name: guest.name, input: input.type, memory: guest.memory, vcpus: guest.vcpus, firmware: guest.firmware, nics },
    disks,
    warnings,
  };
}
