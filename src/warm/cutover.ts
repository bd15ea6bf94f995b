// Cutover's conversion: the partial target disks of the warm dir W,
// converted in place with commit on success, through the same steps as
// `v2v --in-place`: each target served through a commit overlay (input
// step, inPlace) in a new work dir D whose metadata.in is the source's (the
// guest's memory, CPUs, firmware, NICs), then the convert step, which
// commits. Its metadata.out goes to W for output finalize. D is named in
// the state file before the conversion starts: a cutover that died during
// the commit finds D again and finishes that commit (finish-commit.ts)
// instead of converting a half-committed disk a second time.
import type { Logger } from 'pino';
import { existsSync } from 'node:fs';
import { StateError } from '../errors.js';
import type { MetadataOut } from '../metadata/schema.js';
import { convertStep } from '../steps/convert/step.js';
import { finishCommit } from '../steps/convert/finish-commit.js';
import { writeMetadataIn } from '../steps/input/disk.js';
import { serveSource, type ServedDisk } from '../steps/input/serve.js';
import { readOutputState } from '../steps/output/state-file.js';
import { readCommitRecord } from '../workdir/commit-record.js';
import { recordJob } from '../workdir/job-record.js';
import { createWorkDir, existingWorkDir, readMetadataIn, readMetadataOut, writeJson, type WorkDir } from '../workdir/workdir.js';
import type { WarmState } from './state.js';

export interface CutoverOptions {
  log: Logger;
  signal: AbortSignal;
  warn?: (m: string) => void;
  /** Called with D once it exists, before anything is written into a target: the caller records it. */
  onConvertDir(dir: string): Promise<void>;
}

/** A conversion dir left by an earlier cutover: finished if its commit began, else thrown away. */
async function resumeConvertDir(dir: string, log: Logger): Promise<MetadataOut | undefined> {
  if (!existsSync(dir)) return undefined;
  const d = await existingWorkDir(dir);
  const record = readCommitRecord(d.path);
  if (!record) {
    // The conversion did not reach its commit: the targets are as the last sync left them.
    await d.remove();
    return undefined;
  }
  await finishCommit(d, log);
  const out = await readMetadataOut(d);
  await d.remove();
  return out;
}

/** Convert W's targets in place; writes W's metadata.out. */
export async function convertInPlace(w: WorkDir, s: WarmState, o: CutoverOptions): Promise<MetadataOut> {
  const resumed = s.convertDir !== undefined ? await resumeConvertDir(s.convertDir, o.log) : undefined;
  if (resumed) {
    await writeJson(w.metadataOut, resumed);
    return resumed;
  }
  const out = await readOutputState(w);
  if (!out) throw new StateError(`warm cutover: ${w.path}: no output.json`);
  const source = await readMetadataIn(w);
  const d = await createWorkDir(s.options.workParent);
  const served: ServedDisk[] = [];
  try {
    await recordJob(d);
    await o.onConvertDir(d.path);
    for (const t of [...out.disks].sort((a, b) => a.index - b.index)) {
      served.push(await serveSource({ index: t.index, file: t.partial, format: out.options.format, inPlace: true }, { workdir: d, log: o.log, signal: o.signal }));
    }
    const { version: _v, kind: _k, disks: _d, ...fields } = source;
    const metadata = await writeMetadataIn(
      d,
      fields,
      served.map((x) => ({ ...x.disk, bus: source.disks.find((sd) => sd.index === x.disk.index)?.bus ?? 'unknown' })),
    );
    const ctx = { workdir: d, log: o.log, signal: o.signal, warn: o.warn ?? (() => {}), detach: false };
    const converted = await convertStep.run(ctx, { metadata, name: s.name, noConvert: s.options.noConvert, ...(s.options.convert ? { convert: s.options.convert } : {}) });
    await writeJson(w.metadataOut, converted);
    return converted;
  } finally {
    for (const x of served) {
      await x.server.stop();
      await Promise.all(x.fronts.map((f) => f.stop()));
    }
    await d.remove();
  }
}
