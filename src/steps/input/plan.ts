// The input step's plan, read before anything starts, for every input
// (`-i disk`, `-i libvirt`, `-i libvirtxml`, `-i vmx`, `-i ova`), parsed once: the
// source's metadata (src/steps/input/<kind>/, or virt-v2v's defaults for a
// bare disk), the network mapping options applied, and the disks the input
// step serves. Every disk then goes through an overlay; a disk inside an uncompressed OVA
// is read in place (qemu's raw offset/size), a gzip one decompressed into
// the work dir, a remote one (NBD, HTTP(S)) fronted by nbdkit's nbd or curl
// plugin. With `-it ssh` (-i vmx only) the .vmx and its flat disks are on
// another host, read over SSH (vmx/ssh.ts) and fronted by nbdkit's ssh
// plugin. A bare disk's backing chain is read (backing.ts): remote levels
// are refused unless --allow-remote-backing; an OVA disk's may only name
// members of the OVA (ova/chain.ts). `-i libvirt` reads the guest's XML
// through virsh and parses it as `-i libvirtxml` does (libvirt/read.ts).
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { ConfigError, InputError } from '../../errors.js';
import type { JobOptions } from '../../engine/options.js';
import type { NicIn } from '../../metadata/schema.js';
import { errnoText } from '../../util/errno.js';
import { backingChain } from './backing.js';
import { checkLocalFile, failer } from './disk-check.js';
import { diskGuest, removablesOf, sourceInfoOf, type GuestFields } from './disk.js';
import { applyNetworkMap, parseNetworkMap, readLibvirtXml, type NetworkMapOptions } from './libvirtxml/parse.js';
import type { SourceDisk, SourceGuest } from './source.js';
import { parseSshUri } from './ssh.js';
import { show } from './vmx/fail.js';
import { needsUnpacking, readOva } from './ova/ova.js';
import type { DiskSource } from './serve.js';
import { readVmx } from './vmx/parse.js';
import { readVmxOverSsh } from './vmx/ssh.js';
import { readLibvirt } from './libvirt/read.js';

export type InputOptions = JobOptions['input'];

const isSsh = (input: InputOptions) => input.type === 'vmx' && input.transport === 'ssh';

/** The input as messages name it: "-i disk", a file, "-ic URI -i libvirt GUEST". */
const inputName = (input: InputOptions) =>
  input.type === 'disk' ? '-i disk' : input.type === 'libvirt' ? `${input.connection !== undefined ? `-ic ${input.connection} ` : ''}-i libvirt ${input.guest}` : input.file;

/** A local path, or a URI our input actor can front (nbd, nbd+unix, http, https; ssh with -it ssh or -ic xen+ssh://). */
function diskLocation(input: InputOptions, d: SourceDisk, i: number): string {
  if (input.type === 'disk') return d.location;
  const file = inputName(input);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(d.location)?.[1]?.toLowerCase();
  const fronted = isSsh(input) ? ['ssh'] : ['nbd', 'nbd+unix', 'http', 'https', ...(input.type === 'libvirt' ? ['ssh'] : [])];
  if (scheme !== undefined && !fronted.includes(scheme)) {
    const err = new InputError(`input: ${file}: disk ${i + 1} (${d.location}): ${scheme}:// disks are not supported`);
    err.step = 'input';
    throw err;
  }
  return d.location;
}

/** A disk as the input step takes it (serve.ts), and the bus the source gave it. */
export type DiskSpec = Omit<DiskSource, 'index'> & { bus: SourceDisk['bus'] };

export interface SourcePlan {
  guest: SourceGuest;
  fields: GuestFields;
  /** One per disk, in the guest's order. */
  disks: DiskSpec[];
  warnings: string[];
  /** Removes what reading made (an unpacked OVA), once nothing reads the disks. */
  cleanup?: () => Promise<void>;
}

/**
 * -ip FILE must be a readable regular file: its absolute path goes to
 * nbdkit as password=+FILE, so the password is never on a command line.
 */
async function checkPasswordFile(ip: string): Promise<string> {
  const file = path.resolve(ip);
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new ConfigError(`-ip ${show(ip)}: not a regular file`);
    await access(file, constants.R_OK);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`-ip ${show(ip)}: ${errnoText(err)}`);
  }
  return file;
}

export interface PlanOptions {
  input: InputOptions;
  network: NetworkMapOptions;
  log: Logger;
  signal?: AbortSignal | undefined;
  /** Where a compressed (gzip, xz) or zip OVA is unpacked (default $TMPDIR). */
  scratch?: string | undefined;
  /** --allow-remote-backing (`-i disk`): a disk's backing file may be remote (nbd://, json:, ...). */
  allowRemoteBacking?: boolean | undefined;
}

/**
 * Read the source's metadata. A compressed (gzip, xz) or zip OVA is unpacked into a
 * private temp dir (under `scratch`, default $TMPDIR) that lives until the
 * caller calls `cleanup` (after the disks' servers are stopped).
 */
/**
 * The input options that name files of the user's (-ip) or a URI, checked
 * before anything else: a bad one is the command line's fault, not the
 * input step's. Returns the options with the password file made absolute.
 */
export async function checkInputOptions(input: InputOptions): Promise<InputOptions> {
  if (input.type !== 'vmx' || input.transport !== 'ssh') return input;
  parseSshUri(input.file);
  return input.passwordFile === undefined ? input : { ...input, passwordFile: await checkPasswordFile(input.passwordFile) };
}

/** The plan, from options that checkInputOptions has passed. */
export async function planSource(o: PlanOptions): Promise<SourcePlan> {
  const { input, log, signal } = o;
  let unpacked: { path: string; cleanup: () => Promise<void> } | undefined;
  if (input.type === 'ova' && (await needsUnpacking(input.file))) {
    unpacked = await tmpDir({ prefix: 'v2v-ova-', mode: 0o700, unsafeCleanup: true, ...(o.scratch ? { tmpdir: o.scratch } : {}) });
  }
  try {
    const read = await readPlan(input, o.network, log, signal, unpacked?.path, o.allowRemoteBacking === true);
    return unpacked ? { ...read, cleanup: unpacked.cleanup } : read;
  } catch (err) {
    await unpacked?.cleanup();
    throw err;
  }
}

async function readPlan(
  input: InputOptions,
  network: NetworkMapOptions,
  log: Logger,
  signal: AbortSignal | undefined,
  extractDir: string | undefined,
  allowRemoteBacking: boolean,
): Promise<SourcePlan> {
  const warnings: string[] = [];
  const map = parseNetworkMap(network);
  const warn = (m: string) => {
    warnings.push(m);
    log.warn({ warning: m }, input.type);
  };
  const guest =
    input.type === 'disk'
      ? diskGuest(input.files, input.format)
      : input.type === 'libvirtxml'
      ? await readLibvirtXml(input.file)
      : input.type === 'libvirt'
      ? await readLibvirt(input, { log, warn, signal })
      : input.type === 'ova'
        ? await readOva(input.file, { warn, ...(signal ? { signal } : {}), ...(extractDir ? { extractDir } : {}) })
        : input.transport === 'ssh'
          ? await readVmxOverSsh(input.file, {
            warn,
            log,
            ...(input.passwordFile !== undefined ? { passwordFile: input.passwordFile } : {}),
            ...(signal ? { signal } : {}),
          })
          : await readVmx(input.file, { warn });
  if (guest.disks.length === 0) throw new ConfigError(`input: ${inputName(input)}: the guest has no disks`);
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
    ...(input.type === 'vmx' && input.transport === 'ssh' && input.passwordFile !== undefined ? { passwordFile: input.passwordFile } : {}),
    ...(d.image ? { image: d.image } : {}),
  }));
  // Every local disk is there and readable before any server starts.
  for (const [i, d] of disks.entries()) if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(d.file)) await checkLocalFile(i, d.file);
  // A bare disk's backing chain: shown in metadata.in, remote levels refused unless allowed.
  if (input.type === 'disk') {
    for (const [i, d] of disks.entries()) {
      // A URI (nbd://, http://) is read through our front as the server exports it: no chain of files here.
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(d.file)) continue;
      const backing = await backingChain(d.file, d.format, { allowRemote: allowRemoteBacking, fail: failer(i, d.file) });
      if (backing.length > 0) Object.assign(d, { backing });
    }
  }
  log.info({ guest, disks }, `input: ${input.type === 'disk' ? input.files.join(' ') : inputName(input)}: ${guest.disks.length} disk(s), ${guest.removables.length} removable(s), ${nics.length} NIC(s)`);
  return {
    guest,
    fields: { ...sourceInfoOf(guest), name: guest.name, input: input.type, memory: guest.memory, vcpus: guest.vcpus, firmware: guest.firmware, nics, removables: removablesOf(guest) },
    disks,
    warnings,
  };
}
