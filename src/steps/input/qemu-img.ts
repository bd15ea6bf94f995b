// `qemu-img info --output=json`: a disk image's format and virtual size, as
// virt-v2v 2.2 learns them (libguestfs's disk_format/disk_virtual_size run
// the same command). Used by the input steps before they serve a disk.
import { spawn } from 'node:child_process';
import path from 'node:path';
import * as z from 'zod';
import { AbortError, ProcessError } from '../../errors.js';

export interface ImageInfo {
  /** "raw", "qcow2", "vmdk", ... as qemu-img names it. */
  format: string;
  /** Bytes the guest sees. */
  virtualSize: number;
  /** The backing file the image names, as written in it. */
  backingFilename?: string;
}

// Only the fields we use; qemu-img adds fields between versions.
const QemuImgInfoJson = z.object({
  format: z.string().min(1),
  'virtual-size': z.number().int().min(0),
  'backing-filename': z.string().optional(),
});

export interface QemuImgInfoOptions {
  /** Skip probing and open the file as this format (virt-v2v's -if). */
  format?: string;
  signal?: AbortSignal;
  /** Kill qemu-img after this long (a hung NFS mount, say). */
  timeoutMs?: number;
}

/**
 * Run qemu-img info on FILE. Rejects with ProcessError whose message is
 * qemu-img's own reason on one line ("Could not open '...': Image is not in
 * qcow2 format"), or AbortError if `signal` fires.
 */
export function qemuImgInfo(file: string, opts: QemuImgInfoOptions = {}): Promise<ImageInfo> {
  // An absolute path is never read as a protocol ("nbd:...", "json:{...}"):
  // qemu only looks for "PROTO:" before the first '/'.
  // Our own "json:{...}" specs (a disk inside an OVA) are the exception.
  // and NBD URIs (a remote disk behind our own read-only nbdkit).
  const abs = file.startsWith('json:{') || /^nbd(\+unix)?:\/\//.test(file) ? file : path.resolve(file);
  // -U (force-share): an image that a running VM holds locked can still be
  // inspected; the server that opens it later reports the lock itself.
  const argv = ['qemu-img', 'info', '--output=json', '-U', ...(opts.format ? ['-f', opts.format] : []), abs];
  const command = argv.join(' ');
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new AbortError());
      return;
    }
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (opts.signal?.aborted || e.name === 'AbortError') reject(new AbortError());
      else reject(new ProcessError(`cannot run qemu-img: ${e.message}`, { command }));
    });
    child.on('close', (code, signal) => {
      if (opts.signal?.aborted) return reject(new AbortError());
      const tail = err
        .split('\n')
        .map((l) => l.replace(/^qemu-img: /, '').trim())
        .filter(Boolean)
        .join('; ');
      if (code !== 0) {
        const why = signal === 'SIGKILL' && !tail ? `qemu-img info timed out` : tail || `qemu-img info exited (${signal ?? `status ${code}`})`;
        return reject(
          new ProcessError(why, { command, stderrTail: tail, ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) }),
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(out);
      } catch {
        return reject(new ProcessError('qemu-img info printed no valid JSON', { command, stderrTail: tail }));
      }
      const r = QemuImgInfoJson.safeParse(json);
      if (!r.success) return reject(new ProcessError('qemu-img info: no format or virtual-size in its JSON', { command }));
      const backing = r.data['backing-filename'];
      resolve({ format: r.data.format, virtualSize: r.data['virtual-size'], ...(backing !== undefined ? { backingFilename: backing } : {}) });
    });
  });
}
