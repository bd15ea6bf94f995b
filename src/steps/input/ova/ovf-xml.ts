// Reading values out of an OVF descriptor, which comes from whoever made
// the OVA and so is treated as hostile: size-limited, no DOCTYPE or entity
// declarations (billion laughs, external entities), no entity expansion
// beyond the five predefined ones and character references; elements,
// text, attributes, whole numbers and allocation units read with checks,
// every failure an InputError naming the descriptor. Namespace prefixes are
// stripped (see ovf.ts). Used by ovf.ts, which knows what OVF means.
import { XMLParser } from 'fast-xml-parser';
import { ovaError } from './fail.js';

/** Larger descriptors are refused before they are read (ovftool's are a few KiB). */
export const MAX_OVF_SIZE = 16 * 1024 * 1024;

export type XNode = { [key: string]: unknown };

const isNode = (v: unknown): v is XNode => typeof v === 'object' && v !== null && !Array.isArray(v);

export function children(n: XNode | undefined, tag: string): XNode[] {
  const v = n && Object.hasOwn(n, tag) ? n[tag] : undefined;
  return Array.isArray(v) ? v.filter(isNode) : [];
}

export const child = (n: XNode | undefined, tag: string): XNode | undefined => children(n, tag)[0];

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The five predefined entities and character references; anything else stays as written. */
function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, e: string) => {
    if (!e.startsWith('#')) return PREDEFINED[e]!;
    const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : whole;
  });
}

export function text(n: XNode | undefined, tag: string): string | undefined {
  const t = child(n, tag)?.['#text'];
  return typeof t === 'string' && t.trim() !== '' ? decode(t).trim() : undefined;
}

export function attr(n: XNode | undefined, name: string): string | undefined {
  const v = n && Object.hasOwn(n, `@_${name}`) ? n[`@_${name}`] : undefined;
  return typeof v === 'string' ? decode(v).trim() : undefined;
}

/** A value for a message: one short line. */
export const show = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

export function whole(s: string | undefined, label: string, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) throw ovaError([label, `${what} ${show(s)} is not a whole number`]);
  return Number(s);
}

const NAMED_UNITS: Record<string, number> = {
  byte: 1, bytes: 1,
  kb: 2 ** 10, kib: 2 ** 10, kilobytes: 2 ** 10,
  mb: 2 ** 20, mib: 2 ** 20, megabytes: 2 ** 20,
  gb: 2 ** 30, gib: 2 ** 30, gigabytes: 2 ** 30,
  tb: 2 ** 40, tib: 2 ** 40, terabytes: 2 ** 40,
};

/**
 * Bytes per unit of a DMTF programmatic unit ("byte", "byte * 2^20",
 * "byte * 1024") or of the names VMware has used ("MegaBytes", "KB"), where
 * MB always meant 2^20 bytes. Undefined if not understood.
 */
export function parseAllocationUnits(units: string): number | undefined {
  const t = units.replace(/\s+/g, '').toLowerCase();
  if (Object.hasOwn(NAMED_UNITS, t)) return NAMED_UNITS[t];
  const m = /^bytes?\*(\d{1,8})(?:\^(\d{1,3}))?$/.exec(t);
  const v = m ? Number(m[1]) ** Number(m[2] ?? 1) : NaN;
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** `quantity` `units` in bytes; `units` absent means `defaultUnit` bytes. */
export function bytes(quantity: number, units: string | undefined, defaultUnit: number, label: string, what: string): number {
  const unit = units === undefined ? defaultUnit : parseAllocationUnits(units);
  if (unit === undefined) throw ovaError([label, `${what}: unknown allocation unit ${show(units!)}`]);
  const v = quantity * unit;
  if (!Number.isSafeInteger(v)) throw ovaError([label, `${what}: ${quantity} ${units ?? ''} is too large`]);
  return v;
}

/** Parse XML that has no DOCTYPE; every failure an InputError naming `label`. */
export function parseXml(xml: string, label: string): XNode {
  if (xml.length > MAX_OVF_SIZE) throw ovaError([label, `more than ${MAX_OVF_SIZE} bytes: refused`]);
  if (xml.includes('\0')) throw ovaError([label, 'not an XML document (it holds NUL bytes)']);
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw ovaError([label, 'DOCTYPE/entities are not allowed']);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: true,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    parseTagValue: false,
    parseAttributeValue: false,
    alwaysCreateTextNode: true,
    isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  });
  try {
    const doc: unknown = parser.parse(xml, true);
    if (!isNode(doc)) throw new Error('no document');
    return doc;
  } catch (err) {
    // The validator's and the parser's own errors (and a stack overflow on absurd nesting).
    throw ovaError([label, `not valid XML: ${(err as Error)?.message ?? String(err)}`], err);
  }
}

/** The descriptor's text: UTF-8, a byte-order mark dropped; UTF-16 refused. */
export function decodeOvf(bytes: Uint8Array, label: string): string {
  if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe)) {
    throw ovaError([label, 'UTF-16 descriptors are not supported']);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').replace(/^\uFEFF/, '');
}
