// A bzImage kernel unpacked into the ELF kernel it carries, for a
// libguestfs appliance that qemu boots through the kernel's PVH entry point
// (appliance.ts). A bzImage decompresses itself at boot: xz on Debian, 3 to
// 6 s of every appliance launch under TCG. The payload's place and length
// are read from the boot protocol header (Documentation/arch/x86/boot.rst:
// setup_sects, payload_offset, payload_length; protocol 2.08 or later); the
// payload ends with the unpacked size (le32), checked against what the
// decompressor wrote. The ELF must be a 64-bit x86 kernel with the Xen
// PHYS32_ENTRY note, which is what qemu boots without a bzImage.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Why a kernel cannot be unpacked, in a few words (the caller logs it and boots the standard way). */
export class KernelNotUnpackable extends Error {}

interface Payload {
  format: 'gzip' | 'xz' | 'zstd';
  data: Buffer;
  size: number;
}

const MAGICS: [Payload['format'], number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The compressed kernel inside bzImage B, its format and unpacked size. */
export function bzImagePayload(b: Buffer): Payload {
  if (b.length < 0x250 || b.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new KernelNotUnpackable('not a bzImage');
  if (b.readUInt16LE(0x206) < 0x208) throw new KernelNotUnpackable('boot protocol older than 2.08');
  const setupSects = b[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + b.readUInt32LE(0x248);
  const length = b.readUInt32LE(0x24c);
  if (length < 8 || start + length > b.length) throw new KernelNotUnpackable('payload outside the file');
  const data = b.subarray(start, start + length - 4);
  const format = MAGICS.find(([, m]) => m.every((x, i) => data[i] === x))?.[0];
  if (!format) throw new KernelNotUnpackable(`payload compressed with an unsupported method (magic ${data.subarray(0, 4).toString('hex')})`);
  return { format, data, size: b.readUInt32LE(start + length - 4) };
}

function decompressor(format: Payload['format']): string[] | undefined {
  if (format === 'xz') return ['xz', '-dc', '--single-stream'];
  if (format === 'zstd') return ['zstd', '-dcq'];
  return undefined;
}

async function runFilter(argv: string[], input: Buffer, dest: string): Promise<void> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  child.stdin.on('error', () => {}); // a decompressor that quits early: its exit status says why
  child.stdin.end(input);
  await pipeline(child.stdout, createWriteStream(dest, { mode: 0o644, flags: 'wx' }));
  const code = await exited.catch((err: Error) => Promise.reject(new KernelNotUnpackable(`${cmd}: ${err.message}`)));
  if (code !== 0) throw new KernelNotUnpackable(`${cmd} failed: ${stderr.trim().split('\n').pop() ?? `status ${code}`}`);
}

/** Unpack bzImage B into DEST (a new file); throws KernelNotUnpackable when it cannot or the result is not a PVH kernel. */
export async function unpackKernel(b: Buffer, dest: string): Promise<void> {
  const p = bzImagePayload(b);
  const argv = decompressor(p.format);
  if (argv) await runFilter(argv, p.data, dest);
  else await pipeline(Readable.from([p.data]), createGunzip(), createWriteStream(dest, { mode: 0o644, flags: 'wx' }));
  const { size } = await stat(dest);
  if (size !== p.size) throw new KernelNotUnpackable(`unpacked ${size} bytes, the bzImage says ${p.size}`);
  if (!(await hasPvhEntry(dest))) throw new KernelNotUnpackable('the kernel has no PVH entry point (CONFIG_PVH)');
}

const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** FILE is a 64-bit x86 ELF with a Xen PHYS32_ENTRY note (qemu's PVH boot). */
export async function hasPvhEntry(file: string): Promise<boolean> {
  const f = await open(file, 'r');
  try {
    const read = async (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await f.read(buf, 0, len, pos);
      return buf.subarray(0, bytesRead);
    };
    const h = await read(0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1 || h.readUInt16LE(18) !== 62) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const ph = await read(phoff + i * phentsize, 56);
      if (ph.length < 56 || ph.readUInt32LE(0) !== PT_NOTE) continue;
      const notes = await read(Number(ph.readBigUInt64LE(8)), Math.min(Number(ph.readBigUInt64LE(32)), 1 << 20));
      if (hasXenNote(notes, XEN_ELFNOTE_PHYS32_ENTRY)) return true;
    }
    return false;
  } finally {
    await f.close();
  }
}

function hasXenNote(notes: Buffer, type: number): boolean {
  const align = (n: number) => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length; ) {
    const namesz = notes.readUInt32LE(at);
    const descsz = notes.readUInt32LE(at + 4);
    const name = notes.toString('latin1', at + 12, at + 12 + Math.max(0, namesz - 1));
    if (name === 'Xen' && notes.readUInt32LE(at + 8) === type) return true;
    at += 12 + align(namesz) + align(descsz);
  }
  return false;
}
