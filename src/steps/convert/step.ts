// The convert step (seed step 2) on the one step contract: the guest
// converted through the overlays by virt-v2v-in-place (convert.ts), or with
// --no-convert only described as it is; either way metadata.out is written
// to the work dir and returned. Nothing is held afterwards: the
// conversion's proxies stop with it.
import { AbortError } from '../../errors.js';
import { unconvertedMetadata, type MetadataIn, type MetadataOut } from '../../metadata/schema.js';
import { writeJson } from '../../workdir/workdir.js';
import type { Step } from '../step.js';
import { convertGuest } from './convert.js';
import type { ConvertOptions } from './options.js';

export interface ConvertStepIn {
  metadata: MetadataIn;
  /** The converted guest's name (-on, else the source's). */
  name: string;
  noConvert: boolean;
  /** --root, --key: virt-v2v-in-place's options. */
  convert?: ConvertOptions;
}

export const convertStep: Step<ConvertStepIn, MetadataOut> = {
  name: 'convert',
  async run(ctx, { metadata, name, noConvert, convert }) {
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
    return out;
  },
};
