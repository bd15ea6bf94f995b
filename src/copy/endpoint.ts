// Copy endpoints as the user names them, like nbdcopy: an NBD URI, a local
// file or block device, `null:` (target only: discards writes), or
// `[ CMD ARGS ... ]`, a server run as a subprocess through systemd socket
// activation. Parsing is pure; checks that touch the file system are in
// checkEndpoint().
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { InputError } from '../errors.js';

export const Endpoint = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('nbd-uri'), name: z.string(), uri: z.string() }),
  z.strictObject({ kind: z.literal('nbd-systemd'), name: z.string(), argv: z.array(z.string()).min(1) }),
  z.strictObject({ kind: z.literal('file'), name: z.string(), path: z.string() }),
  z.strictObject({ kind: z.literal('null'), name: z.string() }),
]);
export type Endpoint = z.infer<typeof Endpoint>;
export type Side = 'source' | 'target';

const NBD_URI = /^nbds?(\+(unix|vsock|tcp))?:\/\//;

/** The endpoint for one CLI operand (or the argv of a `[ ... ]` group). */
export function parseEndpoint(operand: string | string[], side: Side): Endpoint {
  if (Array.isArray(operand)) {
    if (operand.length === 0) throw new InputError(`${side}: "[ ]" names no command`);
    return { kind: 'nbd-systemd', name: `${side} [ ${operand.join(' ')} ]`, argv: operand };
  }
  if (operand === '') throw new InputError(`${side}: empty name`);
  if (operand === 'null:') {
    if (side === 'source') throw new InputError('source: null: can only be a target');
    return { kind: 'null', name: `${side} null:` };
  }
  if (operand === '-') throw new InputError(`${side}: streaming from stdin or to stdout ("-") is not supported`);
  if (NBD_URI.test(operand)) return { kind: 'nbd-uri', name: `${side} ${operand}`, uri: operand };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(operand)) {
    throw new InputError(`${side}: ${operand}: unsupported URI scheme (use nbd://, nbd+unix://, a file or null:)`);
  }
  return { kind: 'file', name: `${side} ${operand}`, path: path.resolve(operand) };
}

/**
 * Split CLI operands into source and target, honouring nbdcopy's
 * `[ CMD ARGS ... ]` groups ("[" and "]" separate words).
 */
export function parseOperands(words: string[]): { source: Endpoint; target: Endpoint } {
  const groups: (string | string[])[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '[') {
      const end = words.indexOf(']', i + 1);
      if (end === -1) throw new InputError('unterminated "[ ... ]": "]" must be a separate word');
      groups.push(words.slice(i + 1, end));
      i = end;
    } else if (w === ']') {
      throw new InputError('"]" without "["');
    } else {
      groups.push(w);
    }
  }
  if (groups.length !== 2) {
    throw new InputError(`expected SOURCE and TARGET, got ${groups.length} operand(s)`);
  }
  return { source: parseEndpoint(groups[0]!, 'source'), target: parseEndpoint(groups[1]!, 'target') };
}

/** File-system checks that give a clear error before any thread starts. */
export async function checkEndpoint(e: Endpoint, side: Side): Promise<{ created: boolean }> {
  if (e.kind !== 'file') return { created: false };
  if (side === 'source') {
    try {
      const st = await stat(e.path);
      if (!st.isFile() && !st.isBlockDevice()) throw new InputError(`source ${e.path}: not a regular file or block device`);
      await access(e.path, constants.R_OK);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`source ${e.path}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`);
    }
    return { created: false };
  }
  try {
    const st = await stat(e.path);
    if (st.isDirectory()) throw new InputError(`target ${e.path}: is a directory`);
    return { created: false };
  } catch (err) {
    if (err instanceof InputError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InputError(`target ${e.path}: ${(err as Error).message}`);
    try {
      await access(path.dirname(e.path), constants.W_OK);
    } catch {
      throw new InputError(`target ${e.path}: directory ${path.dirname(e.path)} does not exist or is not writable`);
    }
    return { created: true };
  }
}
