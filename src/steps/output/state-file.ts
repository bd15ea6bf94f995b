// DIR/output.json: what output setup made, so that `v2v output finalize DIR`
// and `v2v cleanup DIR`, in other processes, can finish or undo it. A record
// on disk is checked before anything acts on it (issue 9 §5): every path in
// it must be one that setup itself would have made for these options, in
// the -os directory as it resolves now (symbolic links followed), and every
// target one of this work dir's sockets. A record naming anything else
// (/etc/shadow as a "partial disk", a socket elsewhere) is refused whole.
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { InputError } from '../../errors.js';
import { nbdUnixUri } from '../../process/server.js';
import { diskBaseName, diskPatternProblem } from './disk-names.js';
import { OUTPUT_TYPES } from './names.js';
import { formatZodError } from '../../util/zod.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import { PARTIAL_SUFFIX } from './disks.js';

export const OutputStateFile = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-output-state'),
  state: z.enum(['setup', 'finalized']),
  options: z.strictObject({
    type: z.enum(OUTPUT_TYPES),
    /** -os as it resolved at setup (realpath); -o libvirt: the pool's name as given. */
    storage: z.string().optional(),
    /** -oc (-o libvirt). */
    connection: z.string().optional(),
    format: z.enum(['raw', 'qcow2']),
    allocation: z.enum(['sparse', 'preallocated']),
    compressed: z.boolean().optional(),
    diskPattern: z.string().optional(),
    name: z.string().min(1),
  }),
  /** -o libvirt: where the volumes are (the disks' paths are files in poolPath). */
  libvirt: z.strictObject({ uri: z.string(), pool: z.string().min(1), poolPath: z.string() }).optional(),
  disks: z.array(z.strictObject({ index: z.number().int().min(0), final: z.string(), partial: z.string() })),
  targets: z.array(z.strictObject({ index: z.number().int().min(0), uri: z.string(), knownZero: z.boolean() })),
});
export type OutputStateFile = z.infer<typeof OutputStateFile>;

export const outputStatePath = (dir: string) => path.join(dir, 'output.json');

export async function writeOutputState(w: WorkDir, f: OutputStateFile): Promise<void> {
  await writeJson(outputStatePath(w.path), f);
}

const realpath = (p: string): string | undefined => {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
};

/** The targets must be this work dir's sockets. */
function targetsProblem(dir: string, f: OutputStateFile): string | undefined {
  for (const t of f.targets) {
    if (t.uri !== nbdUnixUri(path.join(dir, `out${t.index}`))) return `target ${t.uri} is not this work dir's socket out${t.index}`;
  }
  return undefined;
}

/** -o libvirt: each disk is the volume NAME-sdX, a file in the pool's directory as it resolves now. */
function volumesProblem(dir: string, f: OutputStateFile, lv: NonNullable<OutputStateFile['libvirt']>): string | undefined {
  if (!path.isAbsolute(lv.poolPath) || realpath(lv.poolPath) !== lv.poolPath) return `pool directory ${lv.poolPath} does not resolve to itself any more`;
  for (const d of f.disks) {
    const want = path.join(lv.poolPath, diskBaseName(f.options.name, d.index));
    if (d.final !== want || d.partial !== want) return `disk ${d.index} is not the volume setup makes (${want})`;
  }
  return targetsProblem(dir, f);
}

/** Why F cannot be the record of an output set up from work dir DIR, or undefined if it can. */
export function recordProblem(dir: string, f: OutputStateFile): string | undefined {
  const { type, storage, name, diskPattern } = f.options;
  if (name.includes('/') || name === '.' || name === '..' || /[\u0000-\u001f\u007f]/.test(name)) return `guest name ${JSON.stringify(name)} is not one setup accepts`;
  const indices = f.disks.map((d) => d.index).join(',');
  if (new Set(f.disks.map((d) => d.index)).size !== f.disks.length) return 'a disk is listed twice';
  if (type === 'null') {
    if (f.disks.length > 0) return '-o null writes no disks';
    const bad = f.targets.find((t) => t.uri !== 'null:');
    return bad ? `target ${bad.uri} is not null:` : undefined;
  }
  if (f.targets.map((t) => t.index).join(',') !== indices) return 'its targets are not its disks';
  if ((type === 'libvirt') !== (f.libvirt !== undefined)) return type === 'libvirt' ? '-o libvirt records its pool' : `-o ${type} has no libvirt pool`;
  if (f.options.connection !== undefined && type !== 'libvirt') return `-o ${type} has no -oc`;
  if (f.libvirt) return volumesProblem(dir, f, f.libvirt);
  if (storage === undefined || !path.isAbsolute(storage)) return `-o ${type} records an absolute -os`;
  if (diskPattern !== undefined && (type !== 'json' || diskPatternProblem(diskPattern) !== undefined)) return `json-disks-pattern ${diskPattern} is not one setup accepts`;
  if (realpath(storage) !== storage) return `-os ${storage} does not resolve to itself any more`;
  for (const d of f.disks) {
    const base = diskBaseName(name, d.index, diskPattern);
    if (path.basename(d.final) !== base || path.basename(d.partial) !== `.${base}${PARTIAL_SUFFIX}`) return `disk ${d.index}'s paths are not the names setup gives`;
    for (const p of [d.final, d.partial]) {
      if (realpath(path.dirname(p)) !== storage) return `${p} is not in -os ${storage}`;
    }
  }
  return targetsProblem(dir, f);
}

/**
 * Read DIR/output.json (not through a symbolic link), checked against DIR;
 * undefined when output setup has not run there. Throws InputError for a
 * record that is unreadable or names anything setup would not have made.
 */
export function readOutputStateSync(dir: string): OutputStateFile | undefined {
  const file = outputStatePath(dir);
  let text: string;
  try {
    if (!lstatSync(file).isFile()) throw new InputError(`${file}: not a regular file`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError(`${file}: not valid JSON`);
  }
  const r = OutputStateFile.safeParse(json);
  if (!r.success) throw new InputError(`${file}: ${formatZodError(r.error)}`);
  const problem = recordProblem(dir, r.data);
  if (problem) throw new InputError(`${file}: refusing to act on it: ${problem}`);
  return r.data;
}

export const readOutputState = async (w: WorkDir): Promise<OutputStateFile | undefined> => readOutputStateSync(w.path);
