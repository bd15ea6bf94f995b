// `v2v warm begin|sync|cutover --state FILE ...` (issue 11):
//
//   v2v warm begin   --state FILE [virt-v2v's input and output options]
//   v2v warm sync    --state FILE (--changed FILE... | --bitmap NAME)
//   v2v warm cutover --state FILE (--changed FILE... | --bitmap NAME)
//
// begin takes the options a copying conversion takes (-i disk a.img -o local
// -os DIR ...); sync and cutover read everything else from the state file.
// Each prints one summary line per round (the round, what changed, how long
// it took), or with --machine-readable one JSON event a line.
import { ConfigError } from '../errors.js';
import { commandLine } from '../engine/from-args.js';
import type { WarmApi, WarmEvents } from '../warm/warm.js';
import type { Changes } from '../warm/round.js';
import { humanSize } from '../util/size.js';

export interface WarmCtx {
  signal: AbortSignal;
  out(text: string): void;
  err(text: string): void;
  warm: WarmApi;
}

export const WARM_USAGE = `usage: v2v warm begin   --state FILE [-i ... -o local|qemu -os DIR ...]
       v2v warm sync    --state FILE (--changed FILE... | --bitmap NAME)
       v2v warm cutover --state FILE (--changed FILE... | --bitmap NAME)`;

/** Take `--state FILE` (and for sync/cutover the changes) out of ARGV. */
function takeWarmArgs(verb: string, argv: string[]): { state: string; changes?: Changes; machine: boolean; rest: string[] } {
  let state: string | undefined;
  const changed: string[] = [];
  let bitmap: string | undefined;
  let machine = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    const value = (name: string) => {
      const eq = w.indexOf('=');
      const v = eq >= 0 ? w.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new ConfigError(`warm ${verb}: ${name} needs a value`);
      return v;
    };
    if (w === '--state' || w.startsWith('--state=')) state = value('--state');
    else if (verb !== 'begin' && (w === '--changed' || w.startsWith('--changed='))) changed.push(value('--changed'));
    else if (verb !== 'begin' && (w === '--bitmap' || w.startsWith('--bitmap='))) bitmap = value('--bitmap');
    else if (w === '--machine-readable') machine = true;
    else rest.push(w);
  }
  if (state === undefined) throw new ConfigError(`warm ${verb}: --state FILE is required\n${WARM_USAGE}`);
  if (verb === 'begin') return { state, machine, rest };
  if (rest.length) throw new ConfigError(`warm ${verb}: unexpected ${rest[0]} (the options of begin are in the state file)`);
  if ((changed.length > 0) === (bitmap !== undefined)) throw new ConfigError(`warm ${verb}: give --changed FILE (one per disk) or --bitmap NAME`);
  const changes: Changes = bitmap !== undefined ? { kind: 'bitmap', name: bitmap } : { kind: 'changed', files: changed };
  return { state, changes, machine, rest };
}

export async function runWarm(argv: string[], ctx: WarmCtx): Promise<void> {
  const [verb, ...args] = argv;
  if (verb !== 'begin' && verb !== 'sync' && verb !== 'cutover') throw new ConfigError(`warm: expected begin, sync or cutover\n${WARM_USAGE}`);
  const { state, changes, machine, rest } = takeWarmArgs(verb, args);
  const events: WarmEvents = {
    signal: ctx.signal,
    onWarning: (m) => ctx.err(`v2v: warning: ${m}\n`),
    onRound: (e) => {
      if (machine) return ctx.out(`${JSON.stringify({ type: `warm.round.${e.phase}`, ...e })}\n`);
      if (e.phase === 'finished') {
        ctx.out(`v2v: warm ${e.kind} (round ${e.n}): ${humanSize(e.bytesChanged)} changed, ${humanSize(e.bytesRead)} read, in ${e.seconds.toFixed(1)} s\n`);
      }
    },
    ...(machine ? { onProgress: (e) => ctx.out(`${JSON.stringify({ type: 'warm.progress', ...e })}\n`) } : {}),
  };
  if (verb === 'begin') {
    const { raw } = commandLine(rest);
    await ctx.warm.begin(state, raw, events);
  } else if (verb === 'sync') {
    await ctx.warm.sync(state, changes!, events);
  } else {
    const done = await ctx.warm.cutover(state, changes!, events);
    if (!machine) for (const f of done.files ?? []) ctx.out(`${f}\n`);
  }
}
