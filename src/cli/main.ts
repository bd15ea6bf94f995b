// The `v2v` command: subcommands for each step (copy, ...). Errors end as one
// line on stderr, "v2v: STEP: what failed", and exit status 1. The first
// Ctrl-C cancels the job cleanly; a second one exits at once (servers were
// started with --exit-with-parent, so they go too).
import { Command, CommanderError, Option } from 'commander';
import type { Piscina } from 'piscina';
import { isAbortError, type EngineError } from '../errors.js';
import type { LogConfig } from '../log/logger.js';
import { runBatch } from './batch-command.js';
import { copyCommand } from './copy-command.js';
import type { CliContext } from './context.js';
import { hideGroups } from './groups.js';
import { runStep, STEP_COMMANDS } from './step-commands.js';
import { runV2v } from './v2v-command.js';
import { createEngine } from '../engine/engine.js';

const SUBCOMMANDS = new Set(['copy']);

/**
 * A step subcommand (`v2v [-v] [--log-file F] copy ...`), or else virt-v2v's
 * own command line (`v2v -i disk guest.img -o local -os DIR`).
 */
export function isSubcommand(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '-v' || w === '--verbose' || /^--log-(file|level)=/.test(w)) continue;
    if (w === '--log-file' || w === '--log-level') {
      i++;
      continue;
    }
    return SUBCOMMANDS.has(w);
  }
  return false;
}

/** nbdcopy spells a bare progress flag "-p" / "--progress"; make it explicit. */
function normalise(argv: string[]): string[] {
  const out: string[] = [];
  let rest = false;
  for (const a of argv) {
    if (rest) out.push(a);
    else if (a === '--') {
      rest = true;
      out.push(a);
    } else if (a === '-p' || a === '--progress') out.push('--progress=bar');
    else out.push(a);
  }
  return out;
}

export function describeError(err: unknown): string {
  const e = err as EngineError & { log?: string };
  if (isAbortError(err)) return `${e.step ?? 'job'}: cancelled`;
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = e?.step && !msg.startsWith(`${e.step}:`) ? `${e.step}: ` : '';
  const disk = e?.disk && !msg.includes(e.disk) ? ` (disk ${e.disk})` : '';
  const log = e?.log ? ` (log: ${e.log})` : '';
  return `${prefix}${msg.split('\n')[0]}${disk}${log}`;
}

export async function main(argv: string[], opts: { signal?: AbortSignal; copyPool?: Piscina } = {}): Promise<number> {
  const ac = new AbortController();
  opts.signal?.addEventListener('abort', () => ac.abort(opts.signal!.reason), { once: true });
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      process.stderr.write('\nv2v: interrupted, cleaning up (press Ctrl-C again to exit at once)\n');
      ac.abort();
    } else {
      process.exit(1);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // Commander's own usage errors ("error: missing required argument ...")
  // follow the same one-line "v2v: ..." form as every other error. Commands
  // added with addCommand() do not inherit this, so each one gets it too.
  const output = {
    writeErr: (s: string) => process.stderr.write(s),
    outputError: (s: string, write: (s: string) => void) => write(`v2v: ${s.replace(/^error: /, '')}`),
  };
  const program = new Command('v2v')
    .description('move virtual machines to KVM')
    .addOption(new Option('-v, --verbose', 'debug logs (JSON) on stderr'))
    .addOption(new Option('--log-file <file>', 'append JSON logs to FILE'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['error', 'warn', 'info', 'debug', 'trace']))
    .exitOverride()
    .configureOutput(output);
  const { argv: words, groups } = hideGroups(argv);
  const ctx: CliContext = {
    get log(): LogConfig {
      const o = program.opts<{ verbose?: boolean; logFile?: string; logLevel?: LogConfig['level'] }>();
      const level = o.logLevel ?? (o.verbose ? 'debug' : o.logFile ? 'info' : 'silent');
      return { level, ...(o.logFile ? { file: o.logFile } : {}) };
    },
    signal: ac.signal,
    out: (t) => process.stdout.write(t),
    groups,
    ...(opts.copyPool ? { copyPool: opts.copyPool } : {}),
  };
  program.addCommand(copyCommand(ctx).exitOverride().configureOutput(output));
  const engine = createEngine();
  try {
    if (argv[0] === 'batch') {
      await runBatch(argv.slice(1), { signal: ac.signal, out: ctx.out, engine });
      return 0;
    }
    if (argv[0] !== undefined && STEP_COMMANDS.has(argv[0])) {
      await runStep(argv, { signal: ac.signal, out: ctx.out, steps: engine.steps });
      return 0;
    }
    if (!isSubcommand(argv)) {
      await runV2v(argv, { signal: ac.signal, out: ctx.out, engine });
      return 0;
    }
    await program.parseAsync(normalise(words), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 1;
    }
    process.stderr.write(`v2v: ${describeError(err)}\n`);
    return 1;
  } finally {
    await engine.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
