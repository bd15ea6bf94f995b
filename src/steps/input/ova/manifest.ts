// The OVA manifest (*.mf): one "SHA256(disk1.vmdk)= <hex>" line per file,
// names relative to the manifest's directory. Every named file is hashed and
// compared, as virt-v2v does; no manifest means nothing to check.
//
// Stricter than virt-v2v, which only warns: a malformed line and a manifest
// naming a file the OVA lacks are errors (virt-v2v tolerates the latter for
// VMware OVAs that list snapshot files they do not ship, RHBZ#1570407).
import path from 'node:path';
import { hashFile, lookup, readSmallFile, type OvaArchive } from './archive.js';
import { ovaError, throwIfAborted } from './fail.js';
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

const HEX_LENGTH: Record<ManifestAlgorithm, number> = { SHA1: 40, SHA256: 64, SHA512: 128 };
// ovftool writes "SHA256(f)= x"; other tools put a space before '=' too.
const LINE = /^(SHA1|SHA256|SHA512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$/;

/** Parse a manifest; `label` ("guest.ova: guest.mf") starts every error. Blank lines are skipped. */
export function parseManifest(text: string, label: string): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const [i, raw] of text.replace(/^\uFEFF/, '').split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '') continue;
    const m = LINE.exec(line);
    const algorithm = m?.[1] as ManifestAlgorithm | undefined;
    if (!m || !algorithm || m[3]!.length !== HEX_LENGTH[algorithm]) {
      throw ovaError([label, `line ${i + 1}: not a manifest line (expected "SHA256(file)= hex")`]);
    }
    entries.push({ algorithm, file: m[2]!, digest: m[3]!.toLowerCase() });
  }
  return entries;
}

/** Check every file that the manifest `mfName` of `a` names against its digest. */
export async function verifyManifest(a: OvaArchive, mfName: string, signal?: AbortSignal): Promise<void> {
  const mf = lookup(a, mfName);
  if (!mf) throw ovaError([a.label, mfName, 'No such file or directory']);
  const label = `${a.label}: ${mf.name}`;
  const entries = parseManifest((await readSmallFile(a, mf.name, mf.file, MAX_MANIFEST_SIZE)).toString('utf8'), label);
  const dir = path.posix.dirname(mf.name);
  for (const e of entries) {
    throwIfAborted(signal);
    // The name is checked on its own first: "../x" must not pass by way of the manifest's directory.
    const own = checkName(label, e.file, 'file');
    const found = lookup(a, dir === '.' ? own : `${dir}/${own}`);
    if (!found) throw ovaError([label, `names ${e.file}, which is not in the OVA`]);
    const actual = await hashFile(a, found.name, found.file, e.algorithm.toLowerCase(), signal);
    if (actual !== e.digest) throw ovaError([a.label, found.name, `${e.algorithm} checksum does not match the manifest`]);
  }
}
