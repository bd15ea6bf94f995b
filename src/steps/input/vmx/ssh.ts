// virt-v2v's `-i vmx -it ssh ssh://[USER@]HOST[:PORT]/PATH/GUEST.vmx`: the
// .vmx and its disks on another host (an ESXi server), read over SSH with
// nbdkit's ssh plugin (../ssh.ts). The .vmx and each disk's descriptor are
// read through a short-lived nbdkit and parsed as local ones are
// (parseVmxText, descriptorOf); the disks are then served by the input
// actors through their own nbdkit ssh front.
//
// As in virt-v2v, only flat disks are supported over SSH: a descriptor whose
// single extent is FLAT or VMFS at offset 0, with no snapshot parent. The
// disk is that extent, read as raw. Anything else (sparse, split, stream-
// optimized, snapshots) would need qemu to follow extents over SFTP: it is
// refused with one line. Names in the .vmx and the descriptor must stay in
// the .vmx's directory, as for a local .vmx, checked lexically: SFTP through
// nbdkit cannot resolve symbolic links (the remote account's permissions
// are the limit there). Removable media are not looked at: virt-v2v does
// not carry them over, so their drives are left empty.
import path from 'node:path';
import type { Logger } from 'pino';
import type { SourceDisk, SourceGuest } from '../source.js';
import { openRemote, parseSshUri, sshUri, type SshLocation } from '../ssh.js';
import type { VmxDisk } from './devices.js';
import { descriptorOf } from './disks.js';
import { at, quote, show, vmxError } from './fail.js';
import { resolveLexically, type Fail, type Scope } from './files.js';
import { guestOf, parseVmxText, type ReadVmxOptions } from './parse.js';
import { checkVmxSize, vmxText } from './read.js';
import { looksLikeDescriptor, MAX_DESCRIPTOR_BYTES, SECTOR, singleFlatExtent } from './vmdk.js';

export interface ReadVmxSshOptions extends ReadVmxOptions {
  /** -ip FILE: the password, for nbdkit (password=+FILE). */
  passwordFile?: string;
  log?: Logger;
  signal?: AbortSignal;
}

const ONLY_FLAT = 'only flat vmdks are supported over ssh';

/** Read and parse the remote .vmx at `uri`, and check the disks it names. */
export async function readVmxOverSsh(uri: string, opts: ReadVmxSshOptions = {}): Promise<SourceGuest> {
  const warn = opts.warn ?? (() => {});
  const loc = parseSshUri(uri);
  const fail: Fail = (why, cause) => vmxError(uri, why, cause);
  const text = await openRemote(loc, opts, fail, async (f) => {
    checkVmxSize(f.size, fail);
    return vmxText(await f.read(0, f.size), fail);
  });
  const parsed = parseVmxText(text, uri);
  parsed.warnings.forEach((w) => warn(`${show(uri)}: ${w}`));
  const dir = path.posix.dirname(loc.path);
  const scope: Scope = { vmx: uri, dir, realDir: dir };
  const disks: SourceDisk[] = [];
  for (const d of parsed.disks) disks.push(await remoteDisk(d, loc, scope, opts));
  const guest = guestOf(
    parsed,
    disks,
    parsed.removables.map((r) => ({ kind: r.kind, bus: r.bus, ...(r.driveSlot !== undefined ? { slot: r.driveSlot } : {}) })),
  );
  return guest;
}

/** One disk entry: its descriptor read and checked flat, its extent's size checked. */
async function remoteDisk(d: VmxDisk, loc: SshLocation, scope: Scope, opts: ReadVmxSshOptions): Promise<SourceDisk> {
  const entry: Fail = (why, cause) => vmxError(scope.vmx, `${at(d.line)}${d.key}: ${why}`, cause);
  const vmdk = resolveLexically(scope, d.fileName, entry);
  const fail: Fail = (why, cause) => entry(`${show(d.fileName)}: ${why}`, cause);
  const desc = await openRemote({ ...loc, path: vmdk }, opts, fail, async (f) => {
    const head = await f.read(0, Math.min(f.size, MAX_DESCRIPTOR_BYTES + 1));
    const magic = head.toString('latin1', 0, 4);
    if (magic === 'KDMV' || magic === 'COWD') throw fail(`${ONLY_FLAT} (this is a sparse VMDK)`);
    if (!looksLikeDescriptor(head)) throw fail('not a VMDK disk (neither a sparse extent nor a descriptor)');
    if (f.size > MAX_DESCRIPTOR_BYTES) throw fail(`too big for a VMDK descriptor (at most ${MAX_DESCRIPTOR_BYTES} bytes)`);
    return descriptorOf(head, fail);
  });
  const only = singleFlatExtent(desc);
  if (only === undefined) {
    const what = desc.parentFileNameHint !== undefined ? 'a snapshot' : `createType ${quote(desc.createType)}`;
    throw fail(`${ONLY_FLAT} (this is ${what})`);
  }
  // As for a local disk: no VMware tool writes a flat extent at an offset.
  if (only.offset !== 0) throw fail(`${at(only.line)}a flat extent at offset ${only.offset} is not supported`);
  const extent: Fail = (why, cause) => fail(`${at(only.line)}${show(only.fileName!)}: ${why}`, cause);
  const flat: SshLocation = {
    ...loc,
    path: resolveLexically(scope, only.fileName!, (why) => fail(`${at(only.line)}${why}`), path.posix.dirname(vmdk)),
  };
  const size = await openRemote(flat, opts, extent, async (f) => f.size);
  const end = only.sectors * SECTOR;
  if (size < end) throw extent(`${size} bytes, shorter than the ${end} the extent needs`);
  return { location: sshUri(flat), format: 'raw', bus: d.bus, capacity: desc.capacity };
}
