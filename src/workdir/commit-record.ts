// DIR/commit.json: where an in-place conversion's commit stands (issue 11).
// `committing` is written before the first byte goes into a disk and
// `committed` after the last was flushed; in between, the disks hold a mix
// of old and converted clusters and the overlays in DIR hold every
// converted one. Nothing removes DIR in that state (workdir.ts
// commitUnfinished, the last resort); `v2v cleanup DIR` (or --stale)
// finishes the commit from the overlays, which is idempotent: the same
// bytes are written again.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { StateError } from '../errors.js';
import { COMMIT_RECORD, writeJson, type WorkDir } from './workdir.js';

export const CommitRecord = z.strictObject({
  version: z.literal(1),
  kind: z.literal('v2v-commit'),
  state: z.enum(['committing', 'committed']),
  /** The disks (metadata.in indices) being committed. */
  disks: z.array(z.number().int().min(0)).min(1),
  updated: z.string(),
});
export type CommitRecord = z.infer<typeof CommitRecord>;

export async function writeCommitRecord(w: WorkDir, state: CommitRecord['state'], disks: number[]): Promise<void> {
  await writeJson(path.join(w.path, COMMIT_RECORD), { version: 1, kind: 'v2v-commit', state, disks, updated: new Date().toISOString() } satisfies CommitRecord);
}

/** DIR's commit record, checked; undefined when there is none. A record that does not parse is an error, not "none". */
export function readCommitRecord(dir: string): CommitRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dir, COMMIT_RECORD), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateError(`${dir}/${COMMIT_RECORD}: cannot read it: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StateError(`${dir}/${COMMIT_RECORD}: not JSON: the dir's in-place commit cannot be judged; its overlays are kept`);
  }
  const r = CommitRecord.safeParse(json);
  if (!r.success) throw new StateError(`${dir}/${COMMIT_RECORD}: not a commit record: its overlays are kept`);
  return r.data;
}
