// The output steps (seed steps 3 and 5) on the one step contract. Setup
// creates the target disks under partial names and serves them (output.ts),
// holding its servers until finalize, `release` or `undo`; finalize stops
// them, renames the disks and writes the metadata file last. In a job both
// run in the one output actor: its servers are tied to its thread.
import type { MetadataOut } from '../../metadata/schema.js';
import type { Step } from '../step.js';
import { checkCopiesComplete } from '../../workdir/copy-record.js';
import { outputAbort, outputFinalize, outputSetup, type OutputOptions, type OutputSetup } from './output.js';

export interface OutputSetupIn {
  metadata: MetadataOut;
  options: OutputOptions;
}

export interface OutputFinalizeIn extends OutputSetupIn {
  setup: OutputSetup;
}

export const outputSetupStep: Step<OutputSetupIn, OutputSetup> = {
  name: 'output-setup',
  async run(ctx, { metadata, options }) {
    const o: OutputOptions = { ...options, detach: ctx.detach };
    // A cancel while setup runs: outputAbort finds it by its options.
    const onAbort = () => void outputAbort(o, undefined, ctx.log);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await outputSetup(metadata, o, ctx.workdir, ctx.log);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  },
  /** The job ended well without finalize (--print-source never sets up): stop the servers, remove the partial disks. */
  async release(ctx, setup) {
    await outputAbort(setup.options, setup, ctx.log);
  },
  async undo(ctx, setup) {
    if (setup) await outputAbort(setup.options, setup, ctx.log);
  },
};

export const outputFinalizeStep: Step<OutputFinalizeIn, string[]> = {
  name: 'output-finalize',
  async run(ctx, { metadata, options, setup }) {
    // Only complete disks are renamed: every copy recorded as done (copy-record.ts).
    checkCopiesComplete(ctx.workdir, setup.targets.map((t) => t.index));
    return outputFinalize(metadata, options, setup, ctx.log, (m) => ctx.warn(m));
  },
};
