// `v2v batch PLAN [--machine-readable] [--log-dir DIR]`: many guests at once
// (src/batch/). Each guest's events as lines prefixed with its id, or JSON
// lines; a summary table at the end; exit status 1 if any guest failed, the
// last stderr line naming them ("v2v: batch: 1 of 4 guests failed: g3").
import { Command, Option } from 'commander';
import { loadPlan } from '../batch/load.js';
import type { BatchEvent } from '../batch/events.js';
import type { Engine } from '../engine/engine.js';
import { AbortError, EngineError } from '../errors.js';
import { eventLine, summaryTable } from './batch-render.js';

export interface BatchContext {
  signal: AbortSignal;
  out(text: string): void;
  engine: Engine;
  /** Called once the plan is read, before any guest starts: the stale work dirs warning. */
  warnStale?: () => Promise<void>;
}

const planHelp = `PLAN is a JSON or YAML file:
  guests: [ { id: g1, args: [-i, disk, g1.img, -o, local, -os, /out] },
            { id: g2, options: { input: { type: disk, files: [g2.img] }, output: { type: null } } } ]
  limits: { conversions: 2, copies: 4, copiesPerHost: 2, bandwidth: 100000000 }
Relative paths are taken from PLAN's directory.`;

function batchCommand(run: (plan: string, o: { machineReadable?: boolean; logDir?: string }) => Promise<void>): Command {
  return new Command('v2v batch')
    .description('convert many guests at once under global limits')
    .usage('PLAN [--machine-readable] [--log-dir DIR]')
    .argument('<plan>', 'the plan: a JSON or YAML file')
    .addOption(new Option('--machine-readable', 'events as JSON lines on stdout'))
    .addOption(new Option('--log-dir <dir>', "keep each guest's logs in DIR/ID/"))
    .addHelpText('after', `\n${planHelp}\n`)
    .exitOverride()
    .configureOutput({
      writeErr: (s: string) => process.stderr.write(s),
      outputError: (s: string, write: (s: string) => void) => write(`v2v: error: batch: ${s.replace(/^error: /, '')}`),
    })
    .action(run);
}

export async function runBatch(argv: string[], ctx: BatchContext): Promise<void> {
  await batchCommand(async (file, o) => {
    const plan = await loadPlan(file);
    await ctx.warnStale?.();
    const progress = new Map<string, number>();
    const onEvent = (e: BatchEvent) => {
      if (o.machineReadable) {
        ctx.out(`${JSON.stringify({ ...e, timestamp: new Date().toISOString() })}\n`);
        return;
      }
      const line = eventLine(e, progress);
      if (line !== undefined) ctx.out(`${line}\n`);
    };
    const r = await ctx.engine.convertMany(plan, { signal: ctx.signal, onEvent, ...(o.logDir ? { logDir: o.logDir } : {}) });
    // With --machine-readable the batch.finished event carries every guest's result.
    if (!o.machineReadable) ctx.out(summaryTable(r));
    if (r.cancelled) throw Object.assign(new AbortError('cancelled'), { step: 'batch' });
    if (r.failed.length > 0) {
      const err = new EngineError('BATCH_FAILED', `${r.failed.length} of ${r.guests.length} guests failed: ${r.failed.join(', ')}`);
      err.step = 'batch';
      throw err;
    }
  }).parseAsync(argv, { from: 'user' });
}
