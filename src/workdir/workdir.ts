// The job's private work directory (mode 0700): the seed's temp-dir
// contract. Input writes in0, in1, ... (NBD Unix sockets over the source
// disks) and metadata.in; convert writes metadata.out; output setup writes
// out0, out1, ... over the target disks. Removed by cleanup, always.
import { readFile, writeFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import type { z } from 'zod';
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

/** A new private work dir under `parent` (default: $TMPDIR). */
export async function createWorkDir(parent?: string): Promise<WorkDir> {
  const d = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-', mode: 0o700, ...(parent ? { tmpdir: parent } : {}) });
  return openWorkDir(d.path, () => d.cleanup());
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
    remove: () => (removed ??= remove()),
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

export async function isPrivateDir(dir: string): Promise<boolean> {
  const st = await stat(dir);
  return st.isDirectory() && (st.mode & 0o077) === 0;
}
