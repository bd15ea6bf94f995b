// The convert step (seed step 2) on the one step contract: the guest
// converted through the overlays by virt-v2v-in-place (convert.ts), or with
// --no-convert only described as it is; either way metadata.out is written
// to the work dir and returned. Nothing is held afterwards: the
// conversion's proxies stop with it.
import { AbortError, ConfigError, StateError } from '../../errors.js';
import { unconvertedMetadata, type MetadataIn, type MetadataOut } from '../../metadata/schema.js';
import { commitUnfinished, writeJson } from '../../workdir/workdir.js';
import type { Step } from '../step.js';
import { convertGuest } from './convert.js';
import type { ConvertOptions } from './options.js';
import { commitDisksOf, commitOverlays } from './commit.js';
import { checkInPlaceOutput, writeInPlaceOutput } from './in-place-output.js';

export interface ConvertStepIn {
  metadata: MetadataIn;
  /** The converted guest's name (-on, else the source's). */
  name: string;
  noConvert: boolean;
  /** --root, --key: virt-v2v-in-place's options. */
  convert?: ConvertOptions;
  /** In-place (-O FILE): the converted guest's libvirt XML, and FILE.metadata.out. */
  outputFile?: string | undefined;
}

export const convertStep: Step<ConvertStepIn, MetadataOut> = {
  name: 'convert',
  async run(ctx, { metadata, name, noConvert, convert, outputFile }) {
    if (outputFile !== undefined) {
      if (commitDisksOf(metadata).length === 0) throw new ConfigError('-O: only for a guest converted in place (v2v input --in-place)');
      checkInPlaceOutput(outputFile);
    }
    let out: MetadataOut;
    if (noConvert) {
      // --no-convert: the guest is already at home on KVM.
      out = unconvertedMetadata(metadata, name);
      await writeJson(ctx.workdir.metadataOut, out);
      ctx.log.info({ metadataOut: out }, 'metadata.out written (--no-convert)');
    } else {
      out = await convertGuest({ workdir: ctx.workdir, metadata, name, log: ctx.log, signal: ctx.signal, onWarning: (m) => ctx.warn(m), ...(convert ? { options: convert } : {}) });
    }
    if (ctx.signal.aborted) throw new AbortError('convert: cancelled');
    if (commitDisksOf(metadata).length === 0) return out;
    // In place: the conversion succeeded; now, and only now, the disks
    // change. Not cancellable from here (commit.ts).
    const committed = await commitOverlays(ctx.workdir, metadata, ctx.log).catch((err: unknown) => {
      if (!commitUnfinished(ctx.workdir.path)) throw err; // refused before the first write: the disks are as they were
      throw new StateError(
        `in-place: the commit into the disks failed half-way (${(err as Error).message}): the converted data is kept in ${ctx.workdir.path}; run 'v2v cleanup ${ctx.workdir.path}' to finish the commit`,
      );
    });
    const files = outputFile !== undefined ? await writeInPlaceOutput(outputFile, metadata, out) : [];
    ctx.log.info({ committed: committed.map((c) => ({ disk: c.disk, bytes: c.bytes })), files }, 'converted in place');
    return out;
  },
};
