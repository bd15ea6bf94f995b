// An OVA's disk may name other files: a qcow2's backing file or external
// data file, a vmdk's extents or parent (parentFileNameHint), qcow/qed
// backing files. qemu would open whatever is named (/etc/shadow, a file
// beside the .ova, nbd://, json:{...}) and its bytes would end up in the
// output. Each name is read from the member's header here (image-refs.ts,
// not by qemu), down the whole chain, and must name a member of the same
// OVA: relative, no '..' out of it, no URL or json: spec, no absolute path.
//
// A member that names nothing is opened as before, with "backing": null.
// One that names other members is opened through a `json:` spec built here
// that names every file qemu may open ("backing" and "data-file" given, so
// qemu reads no name from a header):
// - an unpacked OVA (a directory): each level by its checked real path; a
//   vmdk descriptor's extents, which qemu can only open by name, beside it;
// - a tar: levels are byte ranges of the .ova. qemu opens a backing node by
//   its header's name unless the node's own file names a file, which only
//   a raw level can do there (raw with offset/size over the .ova). So in a
//   tar, backing files must be raw and vmdk descriptors (extents) are
//   refused: unpack such an OVA into a directory.
import path from 'node:path';
import { tarMemberNode } from '../disk-check.js';
import { checkSparseExtent, hasProtocol, imageRefs, type ImageRef } from '../image-refs.js';
import { show } from '../vmx/fail.js';
import { checkedPath, lookup, memberBytes, type ArchiveFile, type OvaArchive } from './archive.js';
import { ovaError } from './fail.js';

/** As for VMware snapshots: a longer chain is a loop or an attack. */
const MAX_CHAIN = 32;
const INSIDE_ONLY = "refused (an OVA's disks may name only files inside the OVA)";

type Fail = (why: string, cause?: unknown) => ReturnType<typeof ovaError>;

interface Member {
  name: string;
  file: ArchiveFile;
}

interface Level extends Member {
  format: string | undefined;
  fail: Fail;
  backing?: Level;
  dataFile?: Member;
  extents: Member[];
}

export interface MemberImage {
  /** How qemu opens the member: as declared, else what its header says; undefined: probed (a format that names nothing). */
  format?: string;
  /** For a member that names other members: the `json:` spec naming every file of its chain. */
  image?: string;
}

/**
 * Check what the member NAME (read as FORMAT, else probed) names, down its
 * whole chain; InputError "<ova>: <member>: ..." for anything outside the
 * OVA or that cannot be read in place.
 */
export async function checkMember(a: OvaArchive, name: string, file: ArchiveFile, format: string | undefined): Promise<MemberImage> {
  const top = await readLevel(a, { name, file }, format, [a.label, name], []);
  if (!top.backing && !top.dataFile && top.extents.length === 0) return top.format ? { format: top.format } : {};
  return { ...(top.format ? { format: top.format } : {}), image: `json:${JSON.stringify(await node(a, top, true))}` };
}

async function readLevel(a: OvaArchive, m: Member, format: string | undefined, where: string[], seen: string[]): Promise<Level> {
  const fail: Fail = (why, cause) => ovaError([...where, why], cause);
  if (seen.includes(m.name)) throw fail('the backing chain loops back here');
  if (seen.length >= MAX_CHAIN) throw fail(`more than ${MAX_CHAIN} backing files`);
  const head = await imageRefs(memberBytes(a, m.name, m.file), format, fail);
  const level: Level = { ...m, format: head.format, fail, extents: [] };
  for (const ref of head.refs) {
    const target = resolve(a, m.name, ref, fail);
    if (ref.kind === 'extent') {
      await checkSparseExtent(memberBytes(a, target.name, target.file), ref.extentType, (why, cause) => fail(`extent ${show(ref.name)}: ${why}`, cause));
      level.extents.push(target);
    } else if (ref.kind === 'data file') {
      level.dataFile = target;
    } else {
      level.backing = await readLevel(a, target, ref.format, [...where, `backing file ${show(ref.name)}`], [...seen, m.name]);
    }
  }
  return level;
}

/** The member REF names, relative to the directory of FROM; refused unless it is one. */
function resolve(a: OvaArchive, from: string, ref: ImageRef, fail: Fail): Member {
  const n = ref.name;
  const what = `${ref.kind} ${show(n)}`;
  if (n === '') throw fail(`${ref.kind} with no name: refused`);
  if (n.startsWith('json:')) throw fail(`${what} is a json: spec: ${INSIDE_ONLY}`);
  if (hasProtocol(n)) throw fail(`${what} is a URL (${show(n.slice(0, n.indexOf(':')))}): ${INSIDE_ONLY}`);
  if (path.posix.isAbsolute(n)) throw fail(`${what} is an absolute path: ${INSIDE_ONLY}`);
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), n));
  if (joined === '..' || joined.startsWith('../')) throw fail(`${what} is outside the OVA: ${INSIDE_ONLY}`);
  const found = lookup(a, joined);
  if (!found) throw fail(`${what} is not in the OVA`);
  return found;
}

/** The qemu node of a member's bytes: its checked real path in a directory, its range of the .ova in a tar. */
async function fileNode(a: OvaArchive, m: Member): Promise<Record<string, unknown>> {
  return a.kind === 'tar' ? tarMemberNode(m.file.path, m.file) : { driver: 'file', filename: await checkedPath(a, m.name, m.file) };
}

async function node(a: OvaArchive, l: Level, top: boolean): Promise<Record<string, unknown>> {
  if (a.kind === 'tar' && !top) {
    // Raw names nothing: this level is a leaf. Unknown (probed) is read as raw.
    if ((l.format ?? 'raw') !== 'raw') {
      throw l.fail(`a ${l.format} backing file inside a tar OVA cannot be read in place: not supported (unpack the OVA into a directory)`);
    }
    return tarMemberNode(l.file.path, l.file);
  }
  if (a.kind === 'tar' && l.extents.length > 0) {
    throw l.fail('a VMDK descriptor inside a tar OVA: its extents cannot be read in place: not supported (unpack the OVA into a directory)');
  }
  return {
    ...(l.format ? { driver: l.format } : {}),
    file: await fileNode(a, l),
    backing: l.backing ? await node(a, l.backing, false) : null,
    ...(l.dataFile ? { 'data-file': await fileNode(a, l.dataFile) } : {}),
  };
}
