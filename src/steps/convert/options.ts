// The conversion's own options, virt-v2v's --root and --key, passed on to
// virt-v2v-in-place. A key given as text never reaches a command line, a log
// or an error message: it goes to the program as a file (mode 0600, in the
// private work dir) for as long as it runs.
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { ConfigError } from '../../errors.js';
import { redactKeySelector } from '../../util/redact.js';

/** virt-v2v's --root choices (v2v.ml set_root_choice). */
export function isRootChoice(s: string): boolean {
  return s === 'ask' || s === 'single' || s === 'first' || s.startsWith('/dev/');
}

// virt-v2v splits a selector at every ':', so neither the ID nor a file name may hold one.
const noColon = (what: string) => z.string().refine((s) => !s.includes(':'), `a --key ${what} cannot hold ":"`);
const Id = noColon('ID').describe('the LUKS device (/dev/sda2) or its UUID');

export const LuksKey = z
  .discriminatedUnion('type', [
    z.strictObject({
      id: Id,
      type: z.literal('key'),
      // No value in any message: zod's own would not show it, and ours does not.
      key: z.string().refine((k) => !/[\n\r\0]/.test(k), 'a --key passphrase cannot hold a newline or NUL').describe('the passphrase (never logged)'),
    }),
    z.strictObject({ id: Id, type: z.literal('file'), file: noColon('FILE').min(1).describe('a file whose first line is the passphrase') }),
  ])
  .describe('--key ID:key:KEY or --key ID:file:FILE');
export type LuksKey = z.output<typeof LuksKey>;

export const ConvertOptions = z
  .strictObject({
    root: z
      .string()
      .refine(isRootChoice, { error: (i) => `unknown --root option: ${String(i.input)}` })
      .optional()
      .describe('--root ask|single|first|/dev/...: which root filesystem of a multi-boot guest to convert (default: ask, which fails when there are several)'),
    keys: z.array(LuksKey).default([]).describe('--key: LUKS keys for encrypted guest devices (given to virt-v2v-in-place as files, never logged)'),
  })
  .describe('virt-v2v-in-place\'s options (--root, --key)');
export type ConvertOptions = z.output<typeof ConvertOptions>;
export type ConvertOptionsInput = z.input<typeof ConvertOptions>;

/** Check options from a caller (the step API): a ConfigError with the first problem, no value shown. */
export function parseConvertOptions(raw: unknown): ConvertOptions {
  const r = ConvertOptions.safeParse(raw);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new ConfigError(`convert options: ${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
}


/**
 * Parse `--key SELECTOR` with virt-v2v's checks and words (tools_utils.ml),
 * the passphrase left out of them. ID:clevis is refused: the conversion runs
 * in a network namespace of its own, where no Tang server can be reached.
 */
export function parseKeySelector(arg: string): LuksKey {
  const parts = arg.split(':');
  const sel = `selector '${redactKeySelector(arg)}'`;
  const [id, type] = parts as [string, string | undefined];
  if (type === undefined) throw new ConfigError(`--key: ${sel}: missing TYPE`);
  if (type === 'key') {
    if (parts.length !== 3) throw new ConfigError(`--key: ${sel}: missing KEY_STRING, or too many fields`);
    const k = LuksKey.safeParse({ id, type, key: parts[2] });
    if (!k.success) throw new ConfigError(`--key: ${sel}: ${k.error.issues[0]!.message}`);
    return k.data;
  }
  if (type === 'file') {
    if (parts.length !== 3 || parts[2] === '') throw new ConfigError(`--key: ${sel}: missing FILENAME, or too many fields`);
    return { id, type, file: parts[2]! };
  }
  if (type === 'clevis') {
    throw new ConfigError(`--key: ${sel}: Clevis is not supported (the conversion has no network to reach a Tang server): give the passphrase`);
  }
  throw new ConfigError(`--key: ${sel}: invalid TYPE`);
}

/** The options as virt-v2v-in-place takes them, and how to remove the key files. */
export interface ConvertArgs {
  /** --root. */
  root: string[];
  /** --key ID:file:FILE for each key. */
  keys: string[];
  /** The passphrases given on the command line: never logged (its -v output could echo one). */
  secrets: string[];
  /** Remove the key files written for passphrases. */
  dispose(): Promise<void>;
}

/** Write each passphrase to DIR/luks-keyN (0600, new) and build the options. */
export async function convertArgs(dir: string, o: ConvertOptions | undefined): Promise<ConvertArgs> {
  const written: string[] = [];
  const dispose = async () => {
    for (const f of written.splice(0)) await unlink(f).catch(() => {});
  };
  const keys: string[] = [];
  try {
    for (const [i, k] of (o?.keys ?? []).entries()) {
      if (k.type === 'file') {
        keys.push('--key', `${k.id}:file:${path.resolve(k.file)}`);
        continue;
      }
      const file = path.join(dir, `luks-key${i}`);
      if (file.includes(':')) throw new ConfigError(`--key: the work dir ${dir} has a ":" in its path: a key file there cannot be named to virt-v2v-in-place`);
      const fh = await open(file, 'wx', 0o600);
      written.push(file);
      try {
        await fh.writeFile(k.key, 'utf8');
      } finally {
        await fh.close();
      }
      keys.push('--key', `${k.id}:file:${file}`);
    }
  } catch (err) {
    await dispose();
    throw err;
  }
  const secrets = (o?.keys ?? []).flatMap((k) => (k.type === 'key' ? [k.key] : []));
  return { root: o?.root !== undefined ? ['--root', o.root] : [], keys, secrets, dispose };
}
