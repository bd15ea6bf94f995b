// In-place conversion (issue 11): the input's overlay is kept, not thrown
// away. Disk N is served on in<N> through a qcow2 overlay in the work dir,
// DIR/in<N>.overlay.qcow2, whose backing file is the disk (read-only): the
// conversion writes only into the overlay, and only once it has succeeded
// are the overlay's clusters copied into the disk (src/steps/convert/
// commit.ts). qemu-nbd exports `qemu:allocation-depth` (-A), so the commit
// reads exactly what the overlay holds. A failed or cancelled conversion
// leaves every disk as it was: the overlay goes with the work dir.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ChildProcess } from 'node:child_process';
import { InputError } from '../../errors.js';
import type { DiskIn } from '../../metadata/schema.js';
import { startQemuNbd, type Server } from '../../process/server.js';
import type { WorkDir } from '../../workdir/workdir.js';
import { runTool } from '../output/disks.js';

export const overlayName = (index: number) => `in${index}.overlay.qcow2`;

/** What a disk converted in place needs at commit time (metadata.in's DiskIn.commit). */
export type CommitTarget = NonNullable<DiskIn['commit']>;

/** Where the commit writes: a local disk (checked writable) or the NBD URI it came from. */
export async function commitTargetOf(index: number, given: string, source: string, format: string, remote: boolean): Promise<CommitTarget> {
  const fail = (why: string) => new InputError(`input: disk ${given}: ${why}`);
  if (remote) {
    if (!/^nbd(\+unix)?:\/\//.test(given)) throw fail('--in-place writes the disk: only a local file or an NBD disk (nbd://, nbd+unix://) can be written');
    return { overlay: overlayName(index), target: given, format: 'raw' };
  }
  try {
    await access(source, constants.W_OK);
  } catch {
    throw fail('not writable: --in-place converts the disk itself');
  }
  return { overlay: overlayName(index), target: source, format };
}

/**
 * Create DIR/in<N>.overlay.qcow2 over BACKING (a path or our read-only
 * front's NBD URI, of FORMAT) and serve it, writable, on in<N> with
 * qemu:allocation-depth.
 */
export async function serveCommitOverlay(
  index: number,
  backing: string,
  format: string,
  o: { workdir: WorkDir; log: Logger; signal?: AbortSignal | undefined; detach?: boolean },
): Promise<Server> {
  const overlay = path.join(o.workdir.path, overlayName(index));
  const children = new Set<ChildProcess>();
  const kill = () => children.forEach((c) => c.kill('SIGKILL'));
  o.signal?.addEventListener('abort', kill, { once: true });
  try {
    await runTool(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', backing, '-F', format, overlay], children, o.log);
  } finally {
    o.signal?.removeEventListener('abort', kill);
  }
  return serveOverlayFile(index, overlay, { ...o, readonly: false });
}

/** Serve an existing commit overlay on in<N> (read-only to finish a commit after a crash). */
export function serveOverlayFile(
  index: number,
  overlay: string,
  o: { workdir: WorkDir; log: Logger; signal?: AbortSignal | undefined; detach?: boolean; readonly: boolean },
): Promise<Server> {
  return startQemuNbd(overlay, {
    dir: o.workdir.path,
    name: `in${index}`,
    socket: o.workdir.inSocket(index),
    log: o.log,
    format: 'qcow2',
    allocationDepth: true,
    ...(o.readonly ? { readonly: true } : {}),
    detach: o.detach === true,
    ...(o.signal ? { signal: o.signal } : {}),
  });
}
