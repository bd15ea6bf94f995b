// What a job tells the outside world while it runs: step boundaries,
// per-disk copy progress, warnings and the error. The CLI turns them into
// virt-v2v's `[  12.3] Step text` lines and bars, or with --machine-readable
// into one JSON object a line, so that no tool has to scrape a terminal.
import * as z from 'zod';

import { StepName } from '../steps/step.js';

export { StepName };

export const JobEvent = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('step.started'), step: StepName, message: z.string(), elapsed: z.number() }),
  z.strictObject({ type: z.literal('step.finished'), step: StepName, elapsed: z.number() }),
  z.strictObject({
    type: z.literal('copy.progress'),
    disk: z.string(),
    index: z.number().int(),
    done: z.number(),
    total: z.number(),
  }),
  z.strictObject({ type: z.literal('copy.started'), disk: z.string(), index: z.number().int(), total: z.number(), elapsed: z.number() }),
  z.strictObject({ type: z.literal('copy.finished'), disk: z.string(), index: z.number().int(), elapsed: z.number() }),
  z.strictObject({ type: z.literal('warning'), step: StepName.optional(), message: z.string() }),
  z.strictObject({
    type: z.literal('error'),
    step: StepName.optional(),
    disk: z.string().optional(),
    message: z.string(),
    log: z.string().optional(),
  }),
]);
export type JobEvent = z.infer<typeof JobEvent>;

export { diskName } from '../util/drive-name.js';
