// How an OVA's disk is opened. The OVF says a format (ovf:format, else the
// href's extension), but virt-v2v never uses it: qemu probes every OVA disk.
// Exports in the wild, and virt-v2v's own tests (raw files named .vmdk under
// a "streamOptimized" Disk), get it wrong. We keep the declared format when
// the disk's first bytes agree with it (or when we cannot tell, as for raw,
// vpc, vhdx) and, when they plainly do not, do what virt-v2v does: let qemu
// probe, with a warning. Probing is safe here: whatever the probe picks that
// can name another file is read by chain.ts first (image-refs.ts follows
// qemu's probe), and qemu gets "backing": null or the checked chain.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { sniffFormat } from '../image-refs.js';
import { readHead, type ArchiveFile, type OvaArchive } from './archive.js';
import { errnoText, ovaError } from './fail.js';

/** Enough for every magic and qemu's VMDK descriptor probe (2 KiB). */
export const HEAD = 4096;

/** What `declared` must find in the first bytes; formats not listed are not checked. */
function agrees(declared: string, head: Buffer): boolean {
  switch (declared) {
    case 'qcow2':
    case 'qcow':
    case 'qed':
      return sniffFormat(head) === declared;
    case 'vmdk': {
      // A sparse or COWD extent, or a text descriptor (qemu opens one given
      // as vmdk even where its probe would not pick it).
      if (sniffFormat(head) === 'vmdk') return true;
      const text = head.toString('latin1');
      return !text.includes('\0') && /createType\s*=/.test(text);
    }
    default:
      return true;
  }
}

/**
 * The format to open the disk with (undefined: qemu probes it), and the
 * warning to give when the OVF's format was set aside.
 */
export function chooseFormat(declared: string | undefined, head: Buffer, where: string): { format: string | undefined; warning?: string } {
  if (declared === undefined || agrees(declared, head)) return { format: declared };
  const probed = sniffFormat(head);
  return {
    format: undefined,
    warning: `${where}: the OVF says this disk is ${declared} but it is not (${probed ? `it looks like ${probed}` : 'no known header'}): opened as qemu probes it, as virt-v2v does`,
  };
}

/** The first HEAD bytes of a gzip-compressed member, decompressed (fewer if it is shorter). */
async function gunzipHead(a: OvaArchive, name: string, file: ArchiveFile): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  // A directory's file is opened as archive.ts opens it: never through a symlink.
  const flags = constants.O_RDONLY | (a.kind === 'directory' ? constants.O_NOFOLLOW : 0);
  let fh;
  try {
    fh = await open(file.path, flags);
  } catch (err) {
    throw ovaError([a.label, name, errnoText(err)], err);
  }
  const src = fh.createReadStream({ start: file.offset, end: file.offset + Math.max(file.size, 1) - 1 });
  const gunzip = createGunzip();
  try {
    for await (const chunk of src.pipe(gunzip) as AsyncIterable<Buffer>) {
      parts.push(chunk);
      have += chunk.length;
      if (have >= HEAD) break;
    }
  } catch (err) {
    throw ovaError([a.label, name, `gunzip: ${(err as Error).message}`], err);
  } finally {
    src.destroy();
    gunzip.destroy();
  }
  return Buffer.concat(parts).subarray(0, HEAD);
}

/** The member's first bytes as qemu will see them: decompressed if it is gzip. */
export async function diskHead(a: OvaArchive, name: string, file: ArchiveFile, gzip: boolean): Promise<Buffer> {
  return gzip ? gunzipHead(a, name, file) : readHead(a, name, file, HEAD);
}
