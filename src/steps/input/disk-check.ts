// One source disk checked before anything is started: a local file that
// exists and is readable, a member of an OVA tar read in place, or a remote
// disk behind our read-only nbdkit; its format and size from qemu-img info,
// against what the source's metadata declares. Every failure is one line,
// "input: disk LABEL: why", tagged with the step and the disk.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { AbortError, EngineError, InputError, isAbortError } from '../../errors.js';
import { errnoText } from '../../util/errno.js';
import { qemuImgInfo } from './qemu-img.js';

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('input: cancelled');
}

export function tag<E extends EngineError>(err: E, disk: string): E {
  err.step = 'input';
  err.disk = disk;
  return err;
}

export interface CheckedDisk {
  /** Served through qemu (a json: spec) rather than as a plain file. */
  qemuSpec?: boolean;
  /** `source` is the NBD URI of our read-only front for a remote disk. */
  remote?: boolean;
  index: number;
  given: string;
  source: string;
  format: string;
  size: number;
}

type CheckOptions = {
  /** -if, or what the source's metadata says; probed with qemu-img when absent. */
  format?: string;
  signal?: AbortSignal | undefined;
  /** The disk is these bytes of the file (a member of an uncompressed OVA tar). */
  tarRange?: { offset: number; size: number };
  /** The size the source's metadata declares: the disk must have it. */
  capacity?: number;
  /** A remote disk, already behind our read-only nbdkit at this NBD URI. */
  nbdUri?: string;
  /** How messages name the disk (default: `given`). */
  label?: string;
  /** A `json:` spec that names every file of the disk (an OVA member's checked chain): opened as it is. */
  image?: string;
};

async function checkRemote(
  index: number,
  given: string,
  uri: string,
  opts: CheckOptions,
  fail: (why: string, cause?: unknown) => InputError,
): Promise<CheckedDisk> {
  let info;
  try {
    info = await qemuImgInfo(uri, { ...(opts.format ? { format: opts.format } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw fail(`qemu-img info: ${(err as Error).message}`, err);
  }
  if (opts.capacity !== undefined && opts.capacity !== info.virtualSize) {
    throw fail(`its metadata declares ${opts.capacity} bytes but the disk has ${info.virtualSize} bytes`);
  }
  return { index, given, source: uri, format: info.format, size: info.virtualSize, remote: true };
}

/**
 * qemu's view of bytes OFFSET..OFFSET+SIZE of FILE, opened as FORMAT (or
 * probed): read in place, nothing extracted. qemu's raw driver wants the
 * range in whole sectors; a tar member is padded to 512 bytes, so rounding
 * the size up stays inside the archive.
 */
export function tarMemberSpec(file: string, range: { offset: number; size: number }, format?: string): string {
  // "backing": null: qemu follows no backing file the member's header may
  // name (the input plan found none, ova/chain.ts; or built the member's
  // whole chain into DiskSource.image).
  return `json:${JSON.stringify({ ...(format ? { driver: format } : {}), file: tarMemberNode(file, range), backing: null })}`;
}

/** The qemu node of a tar member's bytes (raw, at its offset and size). */
export function tarMemberNode(file: string, range: { offset: number; size: number }): Record<string, unknown> {
  return { driver: 'raw', offset: range.offset, size: Math.ceil(range.size / 512) * 512, file: { driver: 'file', filename: file } };
}

/**
 * A `json:` spec for qemu-img info, which opens no backing file and
 * refuses one given: the top level only, its backing set to null.
 */
function infoSpec(image: string): string {
  const top = JSON.parse(image.slice('json:'.length)) as Record<string, unknown>;
  return `json:${JSON.stringify({ ...top, backing: null })}`;
}

/** The one-line error of disk INDEX: "input: disk LABEL: why". */
export const failer = (index: number, label: string) => (why: string, cause?: unknown) =>
  tag(new InputError(`input: disk ${label}: ${why}`, cause === undefined ? undefined : { cause }), `in${index}`);

/** A local disk file exists, is a regular file or block device, and is readable: the input plan checks every disk so before any server starts. */
export async function checkLocalFile(index: number, given: string, label = given): Promise<string> {
  const fail = failer(index, label);
  const source = path.resolve(given);
  let st;
  try {
    st = await stat(source);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  if (st.isDirectory()) throw fail('Is a directory');
  if (!st.isFile() && !st.isBlockDevice()) throw fail('not a regular file or block device');
  try {
    await access(source, constants.R_OK);
  } catch (err) {
    throw fail(errnoText(err), err);
  }
  return source;
}

/** One disk, before anything is started: exists, readable, its format and size (qemu-img info). */
export async function checkDisk(index: number, given: string, opts: CheckOptions): Promise<CheckedDisk> {
  const fail = failer(index, opts.label ?? given);
  if (opts.nbdUri) return checkRemote(index, given, opts.nbdUri, opts, fail);
  const source = await checkLocalFile(index, given, opts.label ?? given);
  throwIfAborted(opts.signal);
  let checked: CheckedDisk;
  try {
    // Without -if qemu-img probes the format, as virt-v2v does: a raw
    // guest disk whose first sector looks like a qcow2 header would be
    // opened as qcow2. -if raw avoids that.
    const spec = opts.image ?? (opts.tarRange ? tarMemberSpec(source, opts.tarRange, opts.format) : undefined);
    const info = await qemuImgInfo(spec ? infoSpec(spec) : source, {
      ...(opts.format && !spec ? { format: opts.format } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    checked = { index, given, source: spec ?? source, format: info.format, size: info.virtualSize, ...(spec ? { qemuSpec: true } : {}) };
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw fail(`qemu-img info: ${(err as Error).message}`, err);
  }
  if (opts.capacity !== undefined && opts.capacity !== checked.size) {
    throw fail(`its metadata declares ${opts.capacity} bytes but the disk has ${checked.size} bytes`);
  }
  return checked;
}
