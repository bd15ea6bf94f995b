// Reading the .vmx itself: its size is checked (fstat) before a byte is read,
// then it must be text. VMware writes UTF-8 and says so in `.encoding`;
// older files say "windows-1252" (virt-v2v issue #5 shows one), and we
// decode what `.encoding` declares. NUL bytes, or bytes that are not valid
// in the declared encoding, mean it is not a .vmx file.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { TextDecoder } from 'node:util';
import { humanSize } from '../../../util/size.js';
import { quote, vmxError } from './fail.js';
import { errnoText, openRegular, readAt, type Fail, type Scope } from './files.js';
import { MAX_VMX_BYTES } from './syntax.js';

const ENCODING = /^[ \t]*\.encoding[ \t]*=[ \t]*"([^"\r\n]*)"/im;

/** The text of the .vmx file at `vmxPath`. */
export async function readVmxFile(vmxPath: string): Promise<string> {
  const fail: Fail = (why, cause) => vmxError(vmxPath, why, cause);
  const opened = await openRegular(vmxPath, fail);
  let bytes: Buffer;
  try {
    checkVmxSize(opened.size, fail);
    // One byte more than allowed: a file that grew since fstat is caught too.
    bytes = await readAt(opened, 0, MAX_VMX_BYTES + 1, fail);
  } finally {
    await opened.handle.close();
  }
  if (bytes.length > MAX_VMX_BYTES) throw fail(`more than ${humanSize(MAX_VMX_BYTES)}: too big for a .vmx file`);
  return vmxText(bytes, fail);
}

/** Refuse a .vmx of `size` bytes before reading it, if it is too big to be one. */
export function checkVmxSize(size: number, fail: Fail): void {
  if (size > MAX_VMX_BYTES) throw fail(`${humanSize(size)} is too big for a .vmx file (at most ${humanSize(MAX_VMX_BYTES)})`);
}

/** The text of a .vmx file's bytes (all of them, at most MAX_VMX_BYTES): refused unless it is text. */
export function vmxText(bytes: Buffer, fail: Fail): string {
  const magic = bytes.toString('latin1', 0, 4);
  if (magic === 'KDMV' || magic === 'COWD') throw fail('this is a VMDK disk, not a .vmx file');
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw fail(`not a text file (NUL byte at offset ${nul})`);
  return decode(bytes, fail);
}

function decode(bytes: Buffer, fail: Fail): string {
  const declared = ENCODING.exec(bytes.toString('latin1'))?.[1]?.trim();
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(declared || 'utf-8', { fatal: true });
  } catch {
    throw fail(`.encoding ${quote(declared ?? '')} is not an encoding we know`);
  }
  // A UTF-16 label would read this ASCII-framed file as garbage.
  if (decoder.encoding.startsWith('utf-16')) throw fail(`.encoding ${quote(declared ?? '')} is not supported`);
  try {
    return decoder.decode(bytes);
  } catch {
    throw fail(`not a text file (invalid ${decoder.encoding === 'utf-8' ? 'UTF-8' : decoder.encoding})`);
  }
}

/** The directory names in `vmxPath` may point into. */
export async function scopeOf(vmxPath: string): Promise<Scope> {
  const dir = path.resolve(path.dirname(vmxPath));
  try {
    return { vmx: vmxPath, dir, realDir: await realpath(dir) };
  } catch (err) {
    throw vmxError(vmxPath, `its directory: ${errnoText(err)}`, err);
  }
}
