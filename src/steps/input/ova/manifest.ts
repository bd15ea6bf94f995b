// The OVA manifest (*.mf): one "SHA256(disk1.vmdk)= <hex>" line per file,
// names relative to the manifest's directory. Every named file is hashed and
// compared, as virt-v2v does; no manifest means nothing to check.
//
// A line virt-v2v cannot parse (its form is exactly "SHA1(f)= hex" or
// "SHA256(f)= hex") is a warning with its words, "unable to parse line", as
// scripts grep it. virt-v2v then ignores the line; we still check the file
// when the line is one of the looser forms other tools write ("SHA1(f)=hex",
// " = ", SHA512), and say so (docs/COMPAT.md). Stricter than virt-v2v: a
// manifest naming a file the OVA lacks is an error (virt-v2v tolerates it
// for VMware OVAs that list snapshot files they do not ship, RHBZ#1570407).
import path from 'node:path';
import { hashFile, lookup, readSmallFile, type OvaArchive } from './archive.js';
import { oneLine, ovaError, throwIfAborted } from './fail.js';
import { checkName } from './tar.js';

/** Manifests list a few files; a bigger one is not a manifest. */
export const MAX_MANIFEST_SIZE = 1024 * 1024;

export type ManifestAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface ManifestEntry {
  algorithm: ManifestAlgorithm;
  /** As written in the manifest, relative to its directory. */
  file: string;
  /** Lower-case hex. */
  digest: string;
}

// virt-v2v's own regex (input/OVA.ml), and the forms other tools write
// (no space after '=', spaces around it, SHA512). A digest of the wrong
// length is kept: it cannot match, so the file is refused as corrupt.
const STRICT = /^(SHA1|SHA256)\((.+)\)= ([0-9a-fA-F]+)$/;
const LOOSE = /^\s*(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$/i;
/** One warning a line up to this many; then one for the rest. */
const MAX_WARNINGS = 10;

/** A manifest line for a message: quoted, escaped, cut short. */
const quoted = (line: string) => oneLine(JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line));

/**
 * Parse a manifest. A line virt-v2v would not parse gives a warning
 * "unable to parse line N of WHERE: "TEXT" (...)" through `warn`: ignored,
 * or "(checked anyway)" when it is a looser form we read. Blank lines are
 * skipped.
 */
export function parseManifest(text: string, where: string, warn: (message: string) => void = () => {}): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  let unparsed = 0;
  for (const [i, raw] of text.replace(/^\uFEFF/, '').split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const strict = STRICT.exec(line);
    const m = strict ?? LOOSE.exec(line);
    if (m) entries.push({ algorithm: m[1]!.toUpperCase() as ManifestAlgorithm, file: m[2]!, digest: m[3]!.toLowerCase() });
    if (strict) continue;
    if (++unparsed <= MAX_WARNINGS) warn(`unable to parse line ${i + 1} of ${where}: ${quoted(line)} (${m ? 'checked anyway' : 'ignored'})`);
  }
  if (unparsed > MAX_WARNINGS) warn(`unable to parse ${unparsed - MAX_WARNINGS} more lines of ${where} (not shown)`);
  return entries;
}

/** Check every file that the manifest `mfName` of `a` names against its digest; `warn` hears of lines virt-v2v would not parse. */
export async function verifyManifest(a: OvaArchive, mfName: string, signal?: AbortSignal, warn?: (message: string) => void): Promise<void> {
  const mf = lookup(a, mfName);
  if (!mf) throw ovaError([a.label, mfName, 'No such file or directory']);
  const label = `${a.label}: ${mf.name}`;
  const text = (await readSmallFile(a, mf.name, mf.file, MAX_MANIFEST_SIZE)).toString('utf8');
  const entries = parseManifest(text, `manifest file ${mf.name} in ${a.label}`, warn);
  const dir = path.posix.dirname(mf.name);
  for (const e of entries) {
    throwIfAborted(signal);
    // The name is checked on its own first: "../x" must not pass by way of the manifest's directory.
    const own = checkName(label, e.file, 'file');
    const found = lookup(a, dir === '.' ? own : `${dir}/${own}`);
    if (!found) throw ovaError([label, `names ${e.file}, which is not in the OVA`]);
    const actual = await hashFile(a, found.name, found.file, e.algorithm.toLowerCase(), signal);
    if (actual !== e.digest) {
      throw ovaError(['-i ova: corrupt OVA', a.label, `checksum of disk ${found.name} does not match manifest (${e.algorithm}: actual = ${actual}, expected = ${e.digest})`]);
    }
  }
}
