// The input step (seed step 1) on the one step contract: `run` makes one
// source disk ready behind its copy-on-write overlay on in<N> (serve.ts) and
// holds its servers until `release` or `undo`; `describe` writes
// metadata.in once every disk is served. The plan (plan.ts) is read before:
// the job's pre-flight, or the first thing `v2v input` does. One input
// actor per disk runs `run` in a job; serveAll runs the disks one by one in
// this thread (the step subcommand, the library's step API).
import { AbortError, isAbortError } from '../../errors.js';
import type { DiskIn, MetadataIn } from '../../metadata/schema.js';
import type { Step, StepContext } from '../step.js';
import { writeMetadataIn } from './disk.js';
import type { DiskSpec, SourcePlan } from './plan.js';
import { serveSource, type ServedDisk } from './serve.js';

export interface InputStepIn {
  index: number;
  disk: DiskSpec;
}

async function stopServed(s: ServedDisk): Promise<void> {
  await s.server.stop();
  await Promise.all(s.fronts.map((f) => f.stop()));
}

export const inputStep: Step<InputStepIn, ServedDisk> & {
  describe(ctx: StepContext, plan: SourcePlan, disks: DiskIn[], name?: string): Promise<MetadataIn>;
} = {
  name: 'input',
  async run(ctx, { index, disk: { bus: _bus, ...disk } }) {
    return serveSource({ index, ...disk }, { workdir: ctx.workdir, log: ctx.log, signal: ctx.signal, detach: ctx.detach });
  },
  async release(ctx, served) {
    await stopServed(served);
    ctx.log.info('overlay stopped');
  },
  async undo(_ctx, served) {
    if (served) await stopServed(served);
  },
  /**
   * metadata.in: the plan's guest (renamed with `name`), the served disks with
   * the buses the source gave them; a stated capacity (OVF) the disk does not
   * have is a warning, said here as the served sizes are known.
   */
  async describe(ctx, plan, disks, name) {
    if (ctx.signal.aborted) throw new AbortError('input: cancelled');
    for (const d of disks) {
      const stated = plan.guest.disks[d.index]?.statedCapacity;
      if (stated && stated.bytes !== d.size) {
        ctx.warn(`${stated.where}: the OVF says the disk's capacity is ${stated.bytes} bytes but it has ${d.size} bytes: copied at its own size`);
      }
    }
    const m = await writeMetadataIn(
      ctx.workdir,
      { ...plan.fields, ...(name ? { name } : {}) },
      disks.map((d) => ({ ...d, bus: plan.disks[d.index]!.bus })),
    );
    ctx.log.info({ metadataIn: m }, 'metadata.in written');
    return m;
  },
};

/**
 * Every disk of PLAN served in this thread, one after the other, then
 * metadata.in. If anything fails (or the signal fires) the disks already
 * served are undone before this rejects: a failed input leaves nothing.
 */
export async function serveAll(ctx: StepContext, plan: SourcePlan, name?: string): Promise<{ metadata: MetadataIn; served: ServedDisk[] }> {
  const served: ServedDisk[] = [];
  try {
    for (const [index, disk] of plan.disks.entries()) {
      if (ctx.signal.aborted) throw new AbortError('input: cancelled');
      served.push(await inputStep.run(ctx, { index, disk }));
    }
    for (const m of plan.warnings) ctx.warn(m);
    const metadata = await inputStep.describe(ctx, plan, served.map((s) => s.disk), name);
    return { metadata, served };
  } catch (err) {
    await Promise.all(served.map((s) => inputStep.undo!(ctx, s)));
    if (ctx.signal.aborted && !isAbortError(err)) throw new AbortError('input: cancelled', { cause: err });
    throw err;
  }
}
