// The syntax of a VMware .vmx file: one `key = "value"` per line, '#'
// comments and blank lines. VMware never specified the format; this follows
// what VMware writes and what virt-v2v's parse_vmx.ml accepts, stricter
// where virt-v2v only warns: a line that is not `key = value` is an error,
// since a file we cannot read fully may hide a disk.
//
// - Keys compare case-insensitively ("memSize" is "memsize").
// - Values are double-quoted; "|XX" (two hex digits) is the byte 0xXX, so
//   "|22" is '"' and "|7C" is '|'; a '|' before anything else is itself.
//   Escaped bytes are UTF-8 ("|C3|A9" is 'é'). As in virt-v2v, a value runs
//   from the first to the last '"' of the line, so a raw '"' inside is kept.
// - Unquoted values (Packer writes some) are taken as they are, trimmed,
//   without unescaping.
// - Duplicate keys: the last one wins, as a line appended to a hand-edited
//   file is meant to. (virt-v2v keeps the first one and warns.)
import { TextDecoder } from 'node:util';
import { humanSize } from '../../../util/size.js';
import { at, quote, show, vmxError } from './fail.js';

/** A .vmx file is a few KiB; anything near this is not one. */
export const MAX_VMX_BYTES = 1024 * 1024;

export interface VmxEntry {
  /** The key as written ("scsi0:0.fileName"), for messages. */
  key: string;
  /** Unescaped. */
  value: string;
  /** 1-based line number. */
  line: number;
}

/** Lower-case key -> its entry; for duplicate keys, the last one. */
export type VmxEntries = Map<string, VmxEntry>;

const KEY = /^[^\s"=]+$/;
const ESCAPES = /(?:\|[0-9A-Fa-f]{2})+/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Every `key = value` line of `text` (the contents of `file`). */
export function parseLines(text: string, file: string): VmxEntries {
  if (text.length > MAX_VMX_BYTES) {
    throw vmxError(file, `${humanSize(text.length)} is too big for a .vmx file (at most ${humanSize(MAX_VMX_BYTES)})`);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  // virt-v2v's check: users pass the disk instead of the .vmx.
  if (/^(# Disk DescriptorFile|KDMV|COWD)/.test(text)) throw vmxError(file, 'this is a VMDK disk, not a .vmx file');
  const nul = text.indexOf('\0');
  if (nul >= 0) throw vmxError(file, `not a text file (NUL character on line ${lineOf(text, nul)})`);
  const entries: VmxEntries = new Map();
  text.split('\n').forEach((raw, i) => {
    const entry = parseLine(raw, i + 1, file);
    if (entry) entries.set(entry.key.toLowerCase(), entry);
  });
  return entries;
}

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function parseLine(raw: string, line: number, file: string): VmxEntry | undefined {
  const s = raw.trim();
  if (s === '' || s.startsWith('#')) return undefined;
  const eq = s.indexOf('=');
  if (eq < 0) throw vmxError(file, `${at(line)}not a "key = value" line`);
  const key = s.slice(0, eq).trim();
  if (!KEY.test(key)) throw vmxError(file, `${at(line)}${key === '' ? 'no key before "="' : `${quote(key)} is not a key`}`);
  return { key, value: parseValue(s.slice(eq + 1).trim(), key, line, file), line };
}

function parseValue(rest: string, key: string, line: number, file: string): string {
  if (!rest.startsWith('"')) return rest;
  if (rest.length < 2 || !rest.endsWith('"')) throw vmxError(file, `${at(line)}${show(key)}: unterminated quote`);
  return unescape(rest.slice(1, -1), key, line, file);
}

function unescape(value: string, key: string, line: number, file: string): string {
  if (!value.includes('|')) return value;
  return value.replace(ESCAPES, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    try {
      return utf8.decode(bytes);
    } catch {
      throw vmxError(file, `${at(line)}${show(key)}: the escape ${quote(run)} is not UTF-8`);
    }
  });
}
