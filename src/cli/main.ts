// The `v2v` command: subcommands for each step (copy, ...). Errors end as one
// line on stderr, "v2v: error: STEP: what failed", and exit status 1 (the
// form of virt-v2v's "virt-v2v: error: ...", which scripts grep); a
// cancelled job says "v2v: STEP: cancelled".
//
// Signals, as virt-v2v traps them: SIGINT, SIGTERM, SIGHUP (a dropped SSH
// session) and SIGQUIT cancel the job, which cleans up (servers, partial
// output, work dir) and exits with 128 + the signal's number (130, 143, 129,
// 131), as a shell reports a process killed by it. A second signal skips the
// waiting but not the removal of what is known: the last-resort actions
// (src/util/last-resort.ts: recorded servers killed, partial outputs and work
// dirs removed), then exit at once. A closed stdout or stderr (`v2v ... |
// head -1`) cancels the job the same way, exit status 141 (128 + SIGPIPE);
// nothing more is written to the closed stream.
//
// Start-up: each command's modules are imported when that command runs (the
// bundle splits them into chunks), so `v2v --version` or `v2v copy` does not
// load and compile the whole engine first.
import { constants as osConstants } from 'node:os';
import type { Piscina } from 'piscina';
import { ConfigError, describeError, isAbortError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { LogConfig } from '../log/config.js';
import type { CliContext } from './context.js';
import { runLastResort } from '../util/last-resort.js';
import { argvProblem } from '../util/text.js';
import { guardStdio } from './stdio.js';

/** The step subcommands on a work dir (src/cli/step-commands.ts runs them). */
export const STEP_COMMANDS = new Set(['input', 'convert', 'output', 'cleanup']);

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

export { describeError };

/** The signals that cancel a job (virt-v2v traps the same four). */
export const CANCEL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** 128 + the signal's number: what a shell shows for a process the signal killed. */
export const signalStatus = (s: NodeJS.Signals): number => 128 + osConstants.signals[s];

export async function main(argv: string[], opts: { signal?: AbortSignal; copyPool?: Piscina } = {}): Promise<number> {
  const ac = new AbortController();
  opts.signal?.addEventListener('abort', () => ac.abort(opts.signal!.reason), { once: true });
  // Why the job was cancelled, as the exit status (the first cause wins).
  let cancelStatus: number | undefined;
  const cancel = (status: number) => {
    cancelStatus ??= status;
    if (!ac.signal.aborted) ac.abort();
  };
  const io = guardStdio((stream, err) => {
    if (cancelStatus === undefined) io.err(`v2v: ${stream} closed (${err.code ?? err.message}): cancelling, cleaning up\n`);
    cancel(signalStatus('SIGPIPE'));
  });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      io.err(
        sig === 'SIGINT'
          ? '\nv2v: interrupted, cleaning up (press Ctrl-C again to exit at once)\n'
          : `v2v: ${sig}: cancelling, cleaning up (${sig} again to exit at once)\n`,
      );
      cancel(signalStatus(sig));
      return;
    }
    // No more waiting; but what this process knows it made still goes.
    io.err(`v2v: ${sig} again: killing the recorded servers, removing partial output and work dirs, exiting at once\n`);
    runLastResort();
    process.exit(cancelStatus ?? signalStatus(sig));
  };
  for (const s of CANCEL_SIGNALS) process.on(s, onSignal);
  /** Before a command that makes work dirs under $TMPDIR: say if dead jobs left some there. */
  const warnStale = async () => {
    const { staleWarning } = await import('../workdir/stale.js');
    const w = await staleWarning().catch(() => undefined);
    if (w) io.err(`v2v: warning: ${w}\n`);
  };
  let engine: Engine | undefined;
  const theEngine = async () => (engine ??= (await import('../engine/engine.js')).createEngine());
  try {
    // Node gave us argv decoded with U+FFFD for every invalid byte: a name
    // or path so changed would name another file; refuse it, whatever the command.
    const bad = argvProblem(argv);
    if (bad !== undefined) throw new ConfigError(bad);
    const out = io.out;
    // A bare --version (virt-v2v's -V too) needs nothing else loaded.
    if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
      out((await import('../util/version.js')).versionLine());
      return 0;
    }
    if (argv[0] === 'batch') {
      const { runBatch } = await import('./batch-command.js');
      await runBatch(argv.slice(1), { signal: ac.signal, out, engine: await theEngine(), warnStale });
      return 0;
    }
    if (argv[0] === 'warm') {
      const { runWarm } = await import('./warm-command.js');
      await runWarm(argv.slice(1), { signal: ac.signal, out, err: io.err, warm: (await theEngine()).warm });
      return 0;
    }
    if (argv[0] !== undefined && STEP_COMMANDS.has(argv[0])) {
      const { runStep } = await import('./step-commands.js');
      await runStep(argv, { signal: ac.signal, out, err: io.err, steps: (await theEngine()).steps, warnStale });
      return 0;
    }
    if (!isSubcommand(argv)) {
      const { runV2v } = await import('./v2v-command.js');
      await runV2v(argv, { signal: ac.signal, out, err: io.err, engine: await theEngine(), warnStale });
      return 0;
    }
    return await runSubcommand(argv, io, ac.signal, opts.copyPool);
  } catch (err) {
    // Commander has printed its own line (usage errors, --help) for any of
    // our commander-parsed commands (copy, batch, ...).
    const c = err as { code?: unknown; exitCode?: unknown };
    if (typeof c?.code === 'string' && c.code.startsWith('commander.')) {
      return c.code === 'commander.helpDisplayed' || c.code === 'commander.version' || c.exitCode === 0 ? 0 : 1;
    }
    // A cancel the user asked for is no error: "v2v: copy: cancelled".
    io.err(`v2v: ${isAbortError(err) ? '' : 'error: '}${describeError(err)}\n`);
    return cancelStatus ?? 1;
  } finally {
    await engine?.close();
    for (const s of CANCEL_SIGNALS) process.off(s, onSignal);
    io.dispose();
  }
}

/** `v2v [-v] [--log-file F] copy ...`: commander's subcommands. */
async function runSubcommand(argv: string[], io: ReturnType<typeof guardStdio>, signal: AbortSignal, copyPool?: Piscina): Promise<number> {
  const [{ Command, Option }, { copyCommand }, { hideGroups }] = await Promise.all([
    import('commander'),
    import('./copy-command.js'),
    import('./groups.js'),
  ]);
  // Commander's own usage errors ("error: missing required argument ...")
  // follow the same one-line "v2v: error: ..." form as every other error. Commands
  // added with addCommand() do not inherit this, so each one gets it too.
  const output = {
    writeErr: (s: string) => io.err(s),
    outputError: (s: string, write: (s: string) => void) => write(`v2v: error: ${s.replace(/^error: /, '')}`),
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
    signal,
    out: io.out,
    groups,
    ...(copyPool ? { copyPool } : {}),
  };
  program.addCommand(copyCommand(ctx).exitOverride().configureOutput(output));
  await program.parseAsync(normalise(words), { from: 'user' });
  return 0;
}
