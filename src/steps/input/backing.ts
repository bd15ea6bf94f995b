// `-i disk`'s backing chains. The user names the file, so qemu may follow
// its backing chain (a qcow2 snapshot over its base is a normal input), but
// the chain is read here first, level by level from the headers
// (image-refs.ts, never by qemu, which would connect to a remote backing
// file to describe it): every level is shown by --print-source and written
// to metadata.in (DiskIn.backing), and a level that is not a local file (a
// URI such as nbd://, http(s)://, ssh://, any "proto:" name, or a json:
// spec) is refused unless --allow-remote-backing. The same holds for a
// qcow2's external data file and a vmdk's extents. A remote level ends the
// walk: what is behind it is the remote side's.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { InputError } from '../../errors.js';
import { errnoText } from '../../util/errno.js';
import { hasProtocol, imageRefs, withFileBytes, type ImageRef } from './image-refs.js';
import { show } from './vmx/fail.js';

/** As for VMware snapshots: a longer chain is a loop or an attack. */
export const MAX_BACKING_CHAIN = 32;

export interface BackingOptions {
  /** --allow-remote-backing: a remote level is shown, not refused. */
  allowRemote: boolean;
  /** The disk's one-line error for `why` (input: disk FILE: why). */
  fail: (why: string, cause?: unknown) => InputError;
}

/** Why NAME is not a local file (undefined if it is one), for the refusal. */
export function remoteName(name: string): string | undefined {
  if (name.startsWith('json:')) {
    let drivers: string[] = [];
    try {
      drivers = [...JSON.stringify(JSON.parse(name.slice(5))).matchAll(/"driver":"([^"]*)"/g)].map((m) => m[1]!);
    } catch {
      // qemu would refuse it too; it is still not a local file
    }
    return `a json: spec${drivers.length ? ` (driver ${[...new Set(drivers)].join(', ')})` : ''}`;
  }
  if (!hasProtocol(name)) return undefined;
  const proto = name.slice(0, name.indexOf(':'));
  return proto === 'file' ? undefined : `a network location (${proto})`;
}

/** Where qemu looks for a local NAME found in the image at FROM: beside it, or "file:" relative to qemu's directory. */
function localPath(from: string, name: string): string {
  if (name.startsWith('file:')) return path.resolve(name.slice(5));
  // Not normalised, as qemu does not: "dir/link/../x" is the OS's to resolve.
  return path.isAbsolute(name) ? name : `${path.dirname(from)}/${name}`;
}

/**
 * The backing chain of the local disk FILE opened as FORMAT (else probed):
 * each backing file, top first (a local path as qemu will open it, or the
 * remote name as the image spells it). [] for a disk without one.
 */
export async function backingChain(file: string, format: string | undefined, o: BackingOptions): Promise<string[]> {
  const chain: string[] = [];
  const seen = new Set<string>();
  let cur = path.resolve(file);
  let fmt = format;
  let where = '';
  for (let depth = 0; ; depth++) {
    const fail = (why: string, cause?: unknown) => o.fail(`${where}${why}`, cause);
    if (depth > MAX_BACKING_CHAIN) throw fail(`more than ${MAX_BACKING_CHAIN} backing files`);
    let real: string;
    try {
      real = await realpath(cur);
    } catch (err) {
      throw fail(errnoText(err), err);
    }
    if (seen.has(real)) throw fail('the backing chain loops back here');
    seen.add(real);
    const { refs } = await withFileBytes(cur, fail, (b) => imageRefs(b, fmt, fail));
    let next: ImageRef | undefined;
    for (const ref of refs) {
      const remote = remoteName(ref.name);
      if (remote !== undefined && !o.allowRemote) throw fail(`${ref.kind} ${show(ref.name)} is ${remote}: refused without --allow-remote-backing`);
      if (ref.kind === 'backing file') next = ref;
    }
    if (next === undefined) return chain;
    if (remoteName(next.name) !== undefined) return [...chain, next.name];
    cur = localPath(cur, next.name);
    fmt = next.format;
    chain.push(cur);
    where += `backing file ${show(cur)}: `;
  }
}
