// Unpack a gzip- or xz-compressed OVA (the whole .ova compressed, as
// virt-v2v accepts it) into a directory, which is then read like an unpacked
// OVA. qemu cannot read a byte range of compressed data, so virt-v2v extracts
// such archives too (`zcat | tar -xf -`, `xz -dc | tar -xf -`); gzip is
// decompressed by zlib, xz by `xz -dc` (xz-utils); the tar stream is read by our own header
// parser, so names are checked before anything is written and only regular
// files and directories are created: links, devices and fifos never are.
import { mkdir, open, readdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { EngineError } from '../../../errors.js';
import { errnoText, ovaError, throwIfAborted } from './fail.js';
import { BLOCK, MAX_MEMBERS, MAX_META, MemberFolder, isMetadata, padded, parseHeader, truncated, type TarMember } from './tar.js';

/** Exact-length reads over an async iterator of chunks. */
class ChunkReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.ended) {
      const r = await this.source.next();
      if (r.done) this.ended = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
  }

  /** Up to `n` bytes, fewer only at the end of the stream; at most `n` buffered. */
  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(out.length);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  async exactly(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(n);
  }

  /** The next `n` bytes, chunk by chunk; stops early at the end of the stream. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      await this.fill(1);
      if (this.have === 0) return;
      const part = this.chunks.length ? this.chunks[0]! : Buffer.alloc(0);
      const out = part.subarray(0, n);
      if (out.length === part.length) this.chunks.shift();
      else this.chunks[0] = part.subarray(out.length);
      this.have -= out.length;
      n -= out.length;
      yield out;
    }
  }
}

async function writeMember(r: ChunkReader, m: TarMember, intoDir: string, label: string, signal?: AbortSignal): Promise<void> {
  const target = path.join(intoDir, m.name);
  await mkdir(path.dirname(target), { recursive: true });
  // 'wx': O_CREAT|O_EXCL, so a repeated name (or anything already there) is refused, not overwritten.
  const fh = await open(target, 'wx', 0o644);
  let written = 0;
  try {
    for await (const chunk of r.stream(m.size)) {
      throwIfAborted(signal);
      await fh.write(chunk);
      written += chunk.length;
    }
  } finally {
    await fh.close();
  }
  if (written !== m.size) throw truncated(label, m.name, m.size);
}

async function skip(r: ChunkReader, n: number): Promise<number> {
  let skipped = 0;
  for await (const chunk of r.stream(n)) skipped += chunk.length;
  return skipped;
}

/** One member's data: a regular file is written, a directory made, anything else skipped. */
async function unpackMember(r: ChunkReader, m: TarMember, intoDir: string, label: string, signal?: AbortSignal): Promise<void> {
  if (m.type === 'file') await writeMember(r, m, intoDir, label, signal);
  else {
    if (m.type === 'directory') await mkdir(path.join(intoDir, m.name), { recursive: true });
    if ((await skip(r, m.size)) !== m.size) throw truncated(label, m.name, m.size);
  }
  await skip(r, padded(m.size) - m.size); // the last block's padding may be cut short: harmless
}

/** Extract the tar stream of `r` into `intoDir`; `label` (the .ova) names it in errors. */
async function untar(r: ChunkReader, intoDir: string, label: string, signal?: AbortSignal): Promise<void> {
  const folder = new MemberFolder(label);
  let at = 0;
  for (let headers = 0; ; headers++) {
    throwIfAborted(signal);
    const block = await r.exactly(BLOCK);
    if (block.length === 0) break; // no zero blocks at the end: accepted, as listTar does
    const h = parseHeader(block, label, at);
    if (h === null) break;
    if (headers >= MAX_MEMBERS) throw ovaError([label, `more than ${MAX_MEMBERS} headers: refused`]);
    if (isMetadata(h)) {
      if (h.size > MAX_META) throw ovaError([label, `pax or long-name header at offset ${at} is too large (${h.size} bytes)`]);
      const data = await r.exactly(h.size);
      if (data.length !== h.size) throw truncated(label, h.name, h.size);
      folder.metadata(h, data, at);
      await skip(r, padded(h.size) - h.size);
      at += BLOCK + padded(h.size);
    } else {
      const m = folder.member(h, at);
      await unpackMember(r, m, intoDir, label, signal);
      at = m.offset + padded(m.size);
    }
  }
  folder.finish();
  // Read to the end, as gunzip does: the gzip trailer's CRC is checked, and
  // the pipeline is not cut short (which Node reports as an abort).
  await skip(r, Number.MAX_SAFE_INTEGER);
}

function unpackError(err: unknown, ova: string, intoDir: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if ((err as EngineError).step === 'input') return err; // ours already
  if (e.code?.startsWith('Z_')) return ovaError([ova, `gunzip: ${e.message}`], err);
  if (e.path?.startsWith(intoDir)) return ovaError([ova, `cannot unpack into ${e.path}: ${errnoText(err)}`], err);
  return ovaError([ova, errnoText(err)], err);
}

/** `xz -dc OVA`: its output; `done` rejects with xz's own words if it failed (not if we stopped it). */
function xzDecompress(ova: string): { stdout: Readable; stop(): void; done: Promise<void> } {
  const child = spawn('xz', ['-dc', '--', ova], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stopped = false;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(0, 4096)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(ovaError([ova, `xz: ${errnoText(err)} (is xz-utils installed?)`], err)));
    child.on('close', (code, sig) => {
      if (code === 0 || (sig !== null && stopped)) resolve();
      else reject(ovaError([ova, `xz -dc: ${stderr.trim().split('\n')[0] || (sig ? `killed by ${sig}` : `exit status ${code}`)}`]));
    });
  });
  done.catch(() => {}); // awaited by the caller
  return { stdout: child.stdout, stop: () => ((stopped = true), child.kill()), done };
}

/** The tar stream of an xz-compressed OVA into `dir`; xz's own error wins over the truncated tar it leaves. */
async function unxzInto(ova: string, dir: string, signal?: AbortSignal): Promise<void> {
  const xz = xzDecompress(ova);
  try {
    await pipeline(xz.stdout, async (source: AsyncIterable<Buffer>) => untar(new ChunkReader(source[Symbol.asyncIterator]()), dir, ova, signal), {
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    xz.stop();
    await xz.done;
    throw err;
  }
  await xz.done;
}

/**
 * Decompress the gzip- or xz-compressed OVA `ova` and unpack its tar into
 * `intoDir` (created if missing; it must be empty). Returns the absolute
 * path of `intoDir`. Rejects with InputError (bad gzip or tar, a refused
 * member) or AbortError; what was unpacked before is left for the caller
 * to remove with the directory.
 *
 * XXX: there is no limit on the unpacked size other than the disk's: a
 * small .ova may unpack to a very large directory, as with virt-v2v.
 */
export async function extractCompressedOva(ova: string, intoDir: string, signal?: AbortSignal, compression: 'gzip' | 'xz' = 'gzip'): Promise<string> {
  const dir = path.resolve(intoDir);
  throwIfAborted(signal);
  try {
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) throw ovaError([ova, `cannot unpack into ${dir}: the directory is not empty`]);
    if (compression === 'xz') await unxzInto(ova, dir, signal);
    else await pipeline(
      createReadStream(ova),
      createGunzip(),
      async (source: AsyncIterable<Buffer>) => untar(new ChunkReader(source[Symbol.asyncIterator]()), dir, ova, signal),
      { ...(signal ? { signal } : {}) },
    );
  } catch (err) {
    if (signal?.aborted) throwIfAborted(signal);
    throw unpackError(err, ova, dir);
  }
  return dir;
}
