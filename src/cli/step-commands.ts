// The seed's steps as subcommands on a work dir, so that another supervisor
// can run them one by one (docs/ARCHITECTURE.md, "Step subcommands"):
//
//   DIR=$(v2v input -i disk [-if FMT] [-on NAME] [--workdir DIR] DISK...)
//        (or -i libvirt [-ic URI] GUEST, -i libvirtxml FILE, -i vmx [-it ssh [-ip F]] FILE, -i ova FILE)
//   v2v convert DIR [--no-convert]
//   v2v output setup DIR -o local|qemu|null [-os D] [-of F] [-oa A] [-on NAME]
//                                      (prints "SOURCE TARGET" per disk)
//   v2v copy SOURCE TARGET --target-is-zero   (for each printed pair)
//   v2v output finalize DIR
//   v2v cleanup DIR
//   v2v cleanup --stale [--parent DIR]   (work dirs of dead jobs, src/steps/cleanup/stale-jobs.ts)
//
// The servers `input` and `output setup` start outlive the command (pidfiles
// in DIR); `cleanup` stops them, removes an unfinished output's partial
// disks and the work dir. Each step logs to DIR/STEP.log. A failing step
// undoes what it started itself: DIR is as it was, but for that step's log.
import { ConfigError } from '../errors.js';
import { OutputType } from '../engine/options.js';
import { commandLine } from '../engine/from-args.js';
import { convertOf } from '../engine/compat-args.js';
import { parseOoOptions } from '../engine/io-options.js';
import { parseV2vArgs, type V2vArgs } from '../engine/command-line.js';
import type { StepApi } from '../engine/step-api.js';
import type { V2vContext } from './v2v-command.js';


export const STEPS_USAGE = `Steps on a work dir (each a subcommand):
  DIR=$(v2v input -i disk [-if FORMAT] [--allow-remote-backing] [--in-place] [-on NAME] [--workdir DIR] DISK...)
        (or -i libvirt [-ic URI] GUEST | -i libvirtxml FILE | -i vmx [-it ssh [-ip FILE]] FILE | -i ova FILE,
         with -n/-b/--mac)
  v2v convert DIR [--no-convert] [-on NAME] [--root ROOT] [--key SELECTOR]... [-O FILE]
                          (after input --in-place: converts the disks themselves, committed on success)
  v2v output setup DIR -o local|qemu|null [-os D] [-of raw|qcow2] [-oa sparse|preallocated] [-on NAME]
      prints "SOURCE TARGET" for each disk: copy each with v2v copy SOURCE TARGET --target-is-zero
  v2v output finalize DIR
  v2v cleanup DIR      stops the servers, removes unfinished output and DIR
  v2v cleanup --stale [--parent DIR]
                       the same for every work dir of a dead job under DIR (default $TMPDIR);
                       prints each dir it removed
`;

/** Split "--workdir DIR" off a virt-v2v style command line. */
function takeWorkdir(argv: string[]): { workdir?: string; rest: string[] } {
  const rest: string[] = [];
  let workdir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (w === '--workdir') {
      workdir = argv[++i];
      if (!workdir) throw new ConfigError('option --workdir needs a value');
    } else if (w.startsWith('--workdir=')) workdir = w.slice('--workdir='.length);
    else rest.push(w);
  }
  return { ...(workdir ? { workdir } : {}), rest };
}

/** The work dir operand: the first word not an option; the rest is parsed as virt-v2v options. */
function takeDir(step: string, argv: string[]): { dir: string; args: V2vArgs } {
  const args = parseV2vArgs(argv);
  const [dir, ...extra] = args.files;
  if (!dir) throw new ConfigError(`${step}: the work dir was not given (v2v ${step} DIR ...)`);
  if (extra.length) throw new ConfigError(`${step}: unexpected argument ${extra[0]}`);
  return { dir, args };
}

function only(step: string, a: V2vArgs, allowed: (keyof V2vArgs)[]): void {
  const given: [keyof V2vArgs, string][] = [
    ['inputType', '-i'],
    ['inputFormat', '-if'],
    ['inputTransport', '-it'],
    ['inputPasswordFile', '-ip'],
    ['inputConnection', '-ic'],
    ['outputType', '-o'],
    ['outputStorage', '-os'],
    ['outputConnection', '-oc'],
    ['outputName', '-on'],
    ['noConvert', '--no-convert'],
    ['printSource', '--print-source'],
    ['allowRemoteBacking', '--allow-remote-backing'],
    ['logDir', '--log-dir'],
    ['root', '--root'],
  ];
  const defaults = parseV2vArgs([]);
  for (const [k, flag] of given) {
    if (!allowed.includes(k) && a[k] !== defaults[k]) throw new ConfigError(`${step}: option ${flag} does not apply to this step`);
  }
  const lists: [keyof V2vArgs & ('keys' | 'inputOptions' | 'outputOptions'), string][] = [
    ['keys', '--key'],
    ['inputOptions', '-io'],
    ['outputOptions', '-oo'],
  ];
  for (const [k, flag] of lists) {
    if (!allowed.includes(k) && a[k].length > 0) throw new ConfigError(`${step}: option ${flag} does not apply to this step`);
  }
  if (!allowed.includes('outputFormat') && (a.outputFormat !== defaults.outputFormat || a.outputAllocation !== defaults.outputAllocation)) {
    throw new ConfigError(`${step}: options -of and -oa apply to v2v output setup`);
  }
}

async function stepInput(argv: string[], ctx: StepCtx): Promise<void> {
  const { workdir, rest } = takeWorkdir(argv);
  only('input', parseV2vArgs(rest), ['inputType', 'inputFormat', 'inputTransport', 'inputPasswordFile', 'inputConnection', 'outputName', 'allowRemoteBacking', 'inPlace']);
  // The same options as `v2v -i ... --print-source`: one parse, one plan.
  const { raw } = commandLine([...rest, '--print-source']);
  if (!workdir) await ctx.warnStale?.();
  const r = await ctx.steps.input(raw, { signal: ctx.signal, onWarning: warn(ctx), ...(workdir ? { workdir } : {}) });
  ctx.out(`${r.workdir}\n`);
}

const warn = (ctx: V2vContext) => (m: string) => ctx.err(`v2v: warning: ${m}\n`);

async function stepConvert(argv: string[], ctx: StepCtx): Promise<void> {
  const { dir, args } = takeDir('convert', argv);
  only('convert', args, ['noConvert', 'outputName', 'root', 'keys', 'inPlaceOutput']);
  await ctx.steps.convert(dir, {
    signal: ctx.signal,
    onWarning: warn(ctx),
    noConvert: args.noConvert,
    ...(args.inPlaceOutput !== undefined ? { inPlaceOutput: args.inPlaceOutput } : {}),
    ...(args.outputName ? { name: args.outputName } : {}),
    ...convertOf(args),
  });
}

async function stepOutput(argv: string[], ctx: StepCtx): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb !== 'setup' && verb !== 'finalize') throw new ConfigError('output: expected "setup" or "finalize" (v2v output setup|finalize DIR ...)');
  const { dir, args } = takeDir(`output ${verb}`, rest);
  if (verb === 'finalize') {
    only('output finalize', args, []);
    for (const f of await ctx.steps.outputFinalize(dir, { signal: ctx.signal })) ctx.out(`${f}\n`);
    return;
  }
  only('output setup', args, ['outputType', 'outputStorage', 'outputConnection', 'outputFormat', 'outputName', 'outputOptions']);
  const type = OutputType.safeParse(args.outputType);
  if (!type.success) {
    throw new ConfigError(`output setup: -o ${args.outputType}: output type not supported (supported: ${OutputType.options.map((t) => `-o ${t}`).join(', ')})`);
  }
  const oo = parseOoOptions(args.outputType, args.outputOptions);
  const output = {
    type: type.data,
    ...(args.outputStorage ? { storage: args.outputStorage } : {}),
    ...(args.outputConnection !== undefined ? { connection: args.outputConnection } : {}),
    format: args.outputFormat,
    allocation: args.outputAllocation,
    ...oo,
    ...(args.outputName ? { name: args.outputName } : {}),
  };
  for (const p of await ctx.steps.outputSetup(dir, output, { signal: ctx.signal })) ctx.out(`${p.source} ${p.target}\n`);
}

/** `--stale [--parent DIR]`: the parent's work dirs of dead jobs, or undefined for `cleanup DIR`. */
function takeStale(argv: string[]): { parent?: string } | undefined {
  if (!argv.includes('--stale')) return undefined;
  let parent: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--stale') continue;
    if (w === '--parent') {
      parent = argv[++i];
      if (!parent) throw new ConfigError('cleanup: option --parent needs a value');
    } else if (w.startsWith('--parent=') && w.length > '--parent='.length) parent = w.slice('--parent='.length);
    else throw new ConfigError(`cleanup: --stale takes no ${w.startsWith('-') ? `option ${w}` : `work dir (${w})`}: v2v cleanup --stale [--parent DIR]`);
  }
  return parent !== undefined ? { parent } : {};
}

async function stepCleanup(argv: string[], ctx: StepCtx): Promise<void> {
  const stale = takeStale(argv);
  if (stale) {
    for (const j of await ctx.steps.cleanupStale({ signal: ctx.signal, onWarning: warn(ctx), ...stale })) ctx.out(`${j.dir}\n`);
    return;
  }
  const { dir, args } = takeDir('cleanup', argv);
  only('cleanup', args, []);
  await ctx.steps.cleanup(dir, { signal: ctx.signal, onWarning: warn(ctx) });
}

type StepCtx = V2vContext & { steps: StepApi };

export async function runStep(argv: string[], ctx: StepCtx): Promise<void> {
  const [cmd, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.out(STEPS_USAGE);
    return;
  }
  switch (cmd) {
    case 'input':
      return stepInput(rest, ctx);
    case 'convert':
      return stepConvert(rest, ctx);
    case 'output':
      return stepOutput(rest, ctx);
    case 'cleanup':
      return stepCleanup(rest, ctx);
    default:
      throw new ConfigError(`unknown step ${String(cmd)}`);
  }
}
