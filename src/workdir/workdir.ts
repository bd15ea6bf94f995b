// The job's private work directory (mode 0700): the seed's temp-dir
// contract. Input writes in0, in1, ... (NBD Unix sockets over the source
// disks) and metadata.in; convert writes metadata.out; output setup writes
// out0, out1, ... over the target disks. Removed by cleanup, always.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, writeFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import type * as z from 'zod';
import { InputError } from '../errors.js';
import { formatZodError } from '../util/zod.js';
import { MetadataIn, MetadataOut } from '../metadata/schema.js';

export interface WorkDir {
  readonly path: string;
  inSocket(index: number): string;
  outSocket(index: number): string;
  readonly metadataIn: string;
  readonly metadataOut: string;
  /** Remove the directory and everything in it. Idempotent. */
  remove(): Promise<void>;
}

/**
 * Every work dir holds this file: `v2v convert|output|cleanup DIR` refuse a
 * directory without it (cleanup removes the whole directory).
 */
export const WORKDIR_MARKER = '.v2v-workdir';

async function mark(dir: string): Promise<void> {
  await writeFile(path.join(dir, WORKDIR_MARKER), `${JSON.stringify({ version: 1, created: new Date().toISOString() })}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
}

/** A new private work dir under `parent` (default: $TMPDIR). */
export async function createWorkDir(parent?: string): Promise<WorkDir> {
  const d = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-', mode: 0o700, ...(parent ? { tmpdir: parent } : {}) });
  await mark(d.path);
  return openWorkDir(d.path, () => d.cleanup());
}

/** A new private work dir at DIR, which must not exist (or be an empty directory of ours). */
export async function createWorkDirAt(dir: string): Promise<WorkDir> {
  const abs = path.resolve(dir);
  let created = true;
  try {
    await mkdir(abs, { mode: 0o700 });
  } catch (err) {
    created = false;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new InputError(`work dir ${dir}: cannot create it: ${(err as Error).message}`);
    const st = await stat(abs);
    if (!st.isDirectory() || (await readdir(abs)).length > 0) {
      throw new InputError(`work dir ${dir}: exists and is not an empty directory`);
    }
    if ((st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) {
      throw new InputError(`work dir ${dir}: must be private (mode 0700, owned by you)`);
    }
  }
  await mark(abs);
  // The user's own (empty) directory stays; only what we put in it goes.
  return openWorkDir(abs, created ? () => rm(abs, { recursive: true, force: true }) : () => emptyDir(abs));
}

async function emptyDir(dir: string): Promise<void> {
  for (const e of await readdir(dir)) await rm(path.join(dir, e), { recursive: true, force: true });
}

/**
 * A work dir made by `v2v input` (or createWorkDir): checked, not created.
 * Its records decide what the steps remove and stop, so it must be this
 * user's own private directory (not a symbolic link, owned by us, mode
 * 0700) holding the marker as a regular file: root running `v2v cleanup`
 * on a dir another user prepared would otherwise act on their records.
 */
export async function existingWorkDir(dir: string): Promise<WorkDir> {
  const abs = path.resolve(dir);
  let st;
  try {
    st = await lstat(abs);
  } catch {
    throw new InputError(`work dir ${dir}: does not exist`);
  }
  if (st.isSymbolicLink()) throw new InputError(`work dir ${dir}: is a symbolic link (name the directory itself)`);
  if (!st.isDirectory()) throw new InputError(`work dir ${dir}: not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new InputError(`work dir ${dir}: owned by uid ${st.uid}, not by you (uid ${uid}): refusing to act on its records`);
  if ((st.mode & 0o077) !== 0) throw new InputError(`work dir ${dir}: must be private (mode 0700), is ${(st.mode & 0o777).toString(8).padStart(4, '0')}`);
  try {
    if (!(await lstat(path.join(abs, WORKDIR_MARKER))).isFile()) throw new Error('not a file');
  } catch {
    throw new InputError(`work dir ${dir}: not a v2v work dir (no ${WORKDIR_MARKER}; make one with v2v input)`);
  }
  return openWorkDir(abs, () => rm(abs, { recursive: true, force: true }));
}

/** A private dir of ours: a directory (not a link), owned by this user, mode 0700. */
export function isOwnPrivateDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && (st.mode & 0o7777) === 0o700 && (process.getuid === undefined || st.uid === process.getuid());
  } catch {
    return false;
  }
}

/** DIR/commit.json: an in-place conversion's commit (src/workdir/commit-record.ts). */
export const COMMIT_RECORD = 'commit.json';

/**
 * Whether DIR holds an in-place commit that began and did not end: its
 * overlays are then the only complete copy of the converted data, and the
 * dir must stay until the commit is finished (`v2v cleanup DIR`). Anything
 * but a readable record saying otherwise counts as begun.
 */
export function commitUnfinished(dir: string): boolean {
  const file = path.join(dir, COMMIT_RECORD);
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { state?: unknown }).state !== 'committed';
  } catch {
    return true;
  }
}

/** An existing work dir (the step subcommands take one). */
export function openWorkDir(dir: string, remove: () => Promise<void> = async () => {}): WorkDir {
  let removed: Promise<void> | undefined;
  return {
    path: dir,
    inSocket: (i) => path.join(dir, `in${i}`),
    outSocket: (i) => path.join(dir, `out${i}`),
    metadataIn: path.join(dir, 'metadata.in'),
    metadataOut: path.join(dir, 'metadata.out'),
    // Never while an in-place commit is unfinished: its overlays are the converted data.
    remove: () => (commitUnfinished(dir) ? Promise.resolve() : (removed ??= remove())),
  };
}

/** Write JSON atomically (temp file + rename): readers never see half a file. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

async function readJson<T>(file: string, schema: z.ZodType<T>): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError(`${file}: not valid JSON`);
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new InputError(`${file}: ${formatZodError(r.error)}`);
  return r.data;
}

export const readMetadataIn = (w: WorkDir) => readJson(w.metadataIn, MetadataIn);
export const readMetadataOut = (w: WorkDir) => readJson(w.metadataOut, MetadataOut);
