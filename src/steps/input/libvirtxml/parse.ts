// The metadata of `-i libvirtxml FILE.xml`: a libvirt domain XML (what
// `virsh dumpxml` prints) read as virt-v2v's parse_libvirt_xml.ml reads
// it, into the SourceGuest every input parser returns. The file is
// untrusted: size-limited, checked to be UTF-8 text, never given a DTD.
// Local disk paths are resolved against the XML file's directory but not
// checked here; the input step opens them later.
// Every rejection is an InputError (step 'input') with a one-line message
// that starts with the XML file's path.
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../../errors.js';
import { errnoText } from '../../../util/errno.js';
import type { SourceGuest } from '../source.js';
import { checkNoControl, parseDisks, type VolumeLookup } from './disks.js';
import { hardwareOf } from './hardware.js';
import { parseNics } from './nics.js';
import { loadXml, quote, type Fail, type XmlElement } from './xml.js';
import { NOT_UTF8, isCleanText, showText } from '../../../util/text.js';

export { applyNetworkMap, parseNetworkMap, type NetworkMap, type NetworkMapOptions } from './network-map.js';

/** The largest libvirt XML accepted; real ones are a few KiB. */
export const MAX_XML_BYTES = 16 * 1024 * 1024;

// Sanity bound on <vcpu>, far above any hypervisor's maximum.
const MAX_VCPUS = 65536;

/** An InputError for `file`; control characters and line breaks escaped to keep it one line. */
export function libvirtXmlError(file: string, message: string, options?: ErrorOptions): InputError {
  const text = `${file}: ${message}`.replace(/[\x00-\x1F\x7F\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const err = new InputError(text, options);
  err.step = 'input';
  return err;
}

/**
 * libvirt's memory units (formatdomain "Memory Allocation"): b or bytes,
 * KB MB GB TB PB EB (powers of 1000), k KiB M MiB ... E EiB (powers of
 * 1024); the case of the letters does not matter, as in libvirt.
 */
function unitScale(unit: string): number | undefined {
  const m = /^(?:(b|bytes)|([kmgtpe])(ib|b)?)$/i.exec(unit);
  if (!m) return undefined;
  if (m[1]) return 1;
  const power = 'kmgtpe'.indexOf(m[2]!.toLowerCase()) + 1;
  return (m[3]?.toLowerCase() === 'b' ? 1000 : 1024) ** power;
}

function wholeNumber(text: string, what: string, fail: Fail): number {
  if (!/^\d{1,20}$/.test(text)) return fail(`${what}: expected a whole number, got ${quote(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) return fail(`${what}: ${text} is too large`);
  return n;
}

/** Bytes; virt-v2v's default when <memory> is absent is 1 GiB. */
function memory(domain: XmlElement, fail: Fail): number {
  const el = domain.child('memory');
  if (!el) return 1024 ** 3;
  const unit = el.attr('unit') ?? 'KiB';
  const scale = unitScale(unit);
  if (scale === undefined) return fail(`<memory unit=...>: unknown unit ${quote(unit)} (expected b, KB, KiB, MB, MiB, GB, GiB, TB, TiB, ...)`);
  const bytes = wholeNumber(el.text(), '<memory>', fail) * scale;
  if (!Number.isSafeInteger(bytes)) return fail(`<memory>: ${el.text()} ${unit} is too large`);
  if (bytes === 0) return fail('<memory>: the guest has no memory (0)');
  return bytes;
}

/** <vcpu>; else the product of <cpu><topology>'s sockets, dies, cores, threads; else 1 (virt-v2v). */
function vcpus(domain: XmlElement, fail: Fail): number {
  const check = (n: number, what: string) => (n >= 1 && n <= MAX_VCPUS ? n : fail(`${what}: expected 1 to ${MAX_VCPUS}, got ${n}`));
  const el = domain.child('vcpu');
  if (el) return check(wholeNumber(el.text(), '<vcpu>', fail), '<vcpu>');
  const topology = domain.child('cpu')?.child('topology');
  if (!topology) return 1;
  let n = 1;
  for (const a of ['sockets', 'dies', 'clusters', 'cores', 'threads']) {
    const v = topology.attr(a);
    if (v !== undefined) n *= wholeNumber(v, `<topology ${a}=...>`, fail);
  }
  return check(n, '<cpu><topology>');
}

/**
 * UEFI when <os firmware='efi'>, or a <loader> of type pflash or from
 * OVMF/edk2; BIOS with <os firmware='bios'>. Otherwise 'unknown', as
 * virt-v2v reads it: conversion decides from what is on the disk.
 */
function firmware(domain: XmlElement): SourceGuest['firmware'] {
  const os = domain.child('os');
  const fw = os?.attr('firmware');
  if (fw === 'efi') return 'uefi';
  if (fw === 'bios') return 'bios';
  if (fw !== undefined) return 'unknown';
  const loader = os?.child('loader');
  if (loader && (loader.attr('type') === 'pflash' || /ovmf|edk2/i.test(loader.text()))) return 'uefi';
  return 'unknown';
}

/** The libosinfo id in <metadata> (virt-manager, virt-install write it), whatever its prefix. */
function osHint(domain: XmlElement, fail: Fail): string | undefined {
  const metadata = domain.child('metadata');
  for (const tag of metadata?.childTags() ?? []) {
    const m = /^(?:([^:]+):)?libosinfo$/.exec(tag);
    if (!m) continue;
    const info = metadata!.child(tag)!;
    const id = info.child(m[1] ? `${m[1]}:os` : 'os')?.attr('id');
    if (id) return checkNoControl(id, `<${tag}><os id=...>`, fail);
  }
  return undefined;
}

/** Where relative disk paths are anchored (default: `file`'s directory; '' refuses them), and -i libvirt's volumes. */
export interface ParseOptions {
  dir?: string;
  volumes?: VolumeLookup;
}

/** Parse a libvirt domain XML (pure: reads no file). `file` prefixes errors and anchors relative paths. */
export function parseLibvirtXml(text: string, file: string, o: ParseOptions = {}): SourceGuest {
  const fail: Fail = (message) => {
    throw libvirtXmlError(file, message);
  };
  if (text.length > MAX_XML_BYTES) return fail(`more than ${MAX_XML_BYTES} characters; not a libvirt XML file`);
  const domain = loadXml(text, 'domain', fail);
  const name = domain.child('name')?.text() ?? '';
  if (name === '') return fail('<name> is missing or empty');
  checkNoControl(name, '<name>', fail);
  // A U+FFFD (or a lone surrogate from a character reference) would name files after other bytes.
  if (!isCleanText(name)) return fail(`<name> ${showText(name)}: ${NOT_UTF8}`);
  const devices = domain.child('devices');
  const { disks, removables } = parseDisks(devices, o.dir ?? path.dirname(file), fail, o.volumes);
  if (disks.length === 0) return fail("the guest has no disks (<disk device='disk'>)");
  const hint = osHint(domain, fail);
  return {
    ...hardwareOf(domain),
    name,
    memory: memory(domain, fail),
    vcpus: vcpus(domain, fail),
    firmware: firmware(domain),
    disks,
    removables,
    nics: parseNics(devices, fail),
    ...(hint ? { osHint: hint } : {}),
  };
}


/**
 * Read and parse `file`. It must be a regular file of at most
 * MAX_XML_BYTES (checked before reading, and again on the open file), in
 * UTF-8 without NUL bytes.
 */
export async function readLibvirtXml(file: string): Promise<SourceGuest> {
  const fail = (message: string, cause?: unknown): never => {
    throw libvirtXmlError(file, message, cause === undefined ? undefined : { cause });
  };
  const errno = (err: unknown) => fail(errnoText(err), err);
  const tooBig = (size: number) => fail(`the file is ${size} bytes; a libvirt XML file may be at most ${MAX_XML_BYTES} bytes`);
  // stat first: a FIFO or device must not be opened (that may block), a huge file not read.
  const st = await stat(file).catch(errno);
  if (st.isDirectory()) return fail('Is a directory');
  if (!st.isFile()) return fail('not a regular file');
  if (st.size > MAX_XML_BYTES) return tooBig(st.size);
  // O_NONBLOCK: should the path have become a FIFO since the stat, open does not wait for a writer.
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch(errno);
  let buf: Buffer;
  try {
    const fst = await fh.stat();
    if (!fst.isFile()) return fail('not a regular file');
    if (fst.size > MAX_XML_BYTES) return tooBig(fst.size);
    // One byte more than the size, to see a file that grew after the stat.
    buf = Buffer.alloc(fst.size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null).catch(errno);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) return fail('the file grew while it was read');
    }
    buf = buf.subarray(0, n);
  } finally {
    await fh.close().catch(() => {});
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) return fail(`binary content, not an XML text file (NUL byte at offset ${nul})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (err) {
    return fail('binary content, not an XML text file (not valid UTF-8)', err);
  }
  return parseLibvirtXml(text, file);
}
