// One source disk made ready for the job: a gzip disk decompressed into the
// work dir, a remote one (nbd://, nbd+unix://, http(s)://, ssh://) fronted
// by our read-only nbdkit (nbd, curl or ssh plugin, on in<N>.src), then
// checked (qemu-img info, the declared capacity) and put behind its
// copy-on-write overlay on in<N>. Used by the input actor (for the job's
// lifetime) and by `v2v input` (detached: the servers outlive the command).
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from 'pino';
import { AbortError, InputError } from '../../errors.js';
import type { DiskIn } from '../../metadata/schema.js';
import { serverErrorSoon, startNbdkit, type Server } from '../../process/server.js';
import type { WorkDir } from '../../workdir/workdir.js';
import { checkDisk, failer } from './disk-check.js';
import { serveDisk } from './disk.js';
import { imageRefs, withFileBytes } from './image-refs.js';
import { show } from './vmx/fail.js';
import { parseSshUri, sshPluginArgs } from './ssh.js';

export interface DiskSource {
  index: number;
  /** A local path or a URI (nbd, nbd+unix, http, https, ssh). */
  file: string;
  format?: string | undefined;
  /** The disk is these bytes of `file` (a member of an uncompressed OVA). */
  tarRange?: { offset: number; size: number } | undefined;
  compressed?: 'gzip' | undefined;
  /** The size the source's metadata declares; the disk must have it. */
  capacity?: number | undefined;
  /** ssh:// only: the password file (`-ip`). */
  passwordFile?: string | undefined;
  /** A `json:` spec naming every file of the disk (an OVA member's checked chain): opened as it is. */
  image?: string | undefined;
  /** The disk's backing chain as the input plan read it (`-i disk`), for metadata.in. */
  backing?: string[] | undefined;
  /** In-place conversion: served through a commit overlay (commit-overlay.ts). */
  inPlace?: boolean | undefined;
}

export interface ServedDisk {
  disk: DiskIn;
  /** The overlay on in<N>. */
  server: Server;
  /** Our read-only front for a remote disk, if any: stop it after the overlay. */
  fronts: Server[];
}

/** Decompress a gzip disk (the whole FILE, or RANGE of it) to DEST, a private new file. */
async function gunzipInto(file: string, range: DiskSource['tarRange'], dest: string, signal?: AbortSignal): Promise<string> {
  const from = createReadStream(file, range ? { start: range.offset, end: range.offset + range.size - 1 } : {});
  try {
    await pipeline(from, createGunzip(), createWriteStream(dest, { mode: 0o600, flags: 'wx' }), ...(signal ? [{ signal }] : []));
  } catch (err) {
    if (signal?.aborted) throw new AbortError('input: cancelled');
    throw new InputError(`input: ${file}: cannot decompress the disk: ${(err as Error).message.split('\n')[0]}`);
  }
  return dest;
}

/**
 * A decompressed OVA member must name no other file (a backing file, data
 * file or extent would be looked for beside it, in the work dir, or
 * anywhere): refused before qemu opens it.
 */
async function namesNothing(src: DiskSource, file: string): Promise<void> {
  const fail = failer(src.index, src.file);
  const { refs } = await withFileBytes(file, fail, (b) => imageRefs(b, src.format, (why, cause) => fail(`the decompressed disk: ${why}`, cause)));
  const ref = refs[0];
  if (ref) throw fail(`the decompressed disk names the ${ref.kind} ${show(ref.name)}: refused (a compressed disk of an OVA may name no other file)`);
}

export async function serveSource(
  src: DiskSource,
  o: { workdir: WorkDir; log: Logger; signal?: AbortSignal; detach?: boolean },
): Promise<ServedDisk> {
  const { workdir, log, signal } = o;
  const fronts: Server[] = [];
  try {
    let file = src.file;
    let range = src.tarRange;
    if (src.compressed) {
      file = await gunzipInto(src.file, range, path.join(workdir.path, `in${src.index}.disk`), signal);
      range = undefined;
      log.info({ from: src.file, range: src.tarRange, to: file }, 'decompressed');
      await namesNothing(src, file);
    }
    if (/^(nbd(\+unix)?|https?|ssh):\/\//.test(file)) {
      const plugin = file.startsWith('ssh:')
        ? sshPluginArgs(parseSshUri(file), src.passwordFile !== undefined ? { passwordFile: src.passwordFile } : {})
        : file.startsWith('http')
          ? ['curl', `url=${file}`]
          : ['nbd', `uri=${file}`];
      const name = `in${src.index}.src`;
      fronts.push(await startNbdkit(plugin, { dir: workdir.path, name, readonly: true, log, detach: o.detach === true, ...(signal ? { signal } : {}) }));
    }
    const checked = await checkDisk(src.index, file, {
      ...(fronts[0] ? { nbdUri: fronts[0].uri } : {}),
      ...(src.format ? { format: src.format } : {}),
      ...(range ? { tarRange: range } : {}),
      ...(src.capacity !== undefined ? { capacity: src.capacity } : {}),
      ...(src.image ? { image: src.image } : {}),
      ...(signal ? { signal } : {}),
    }).catch(async (err: unknown) => {
      // Behind our front, qemu-img only sees "export not available": the
      // front's own words say why (no such host, refused, HTTP 404, ...).
      const why = fronts[0] && (await serverErrorSoon(fronts[0]));
      if (why && err instanceof InputError) err.message = `input: disk ${file}: cannot read it: ${why}`;
      throw err;
    });
    const { server, disk } = await serveDisk(checked, { workdir, log, ...(signal ? { signal } : {}), detach: o.detach === true, inPlace: src.inPlace === true });
    return { disk: src.backing?.length ? { ...disk, backing: src.backing } : disk, server, fronts };
  } catch (err) {
    await Promise.all(fronts.map((f) => f.stop()));
    throw err;
  }
}
