// The seed's steps as subcommands on a work dir, so that another supervisor
// can run them one by one (docs/ARCHITECTURE.md, "Step subcommands"):
//
//   DIR=$(v2v input -i disk [-if FMT] [-on NAME] [--workdir DIR] DISK...)
//        (or -i libvirtxml FILE, -i vmx [-it ssh [-ip F]] FILE, -i ova FILE)
//   v2v convert DIR [--no-convert]
//   v2v output setup DIR -o local|qemu|null [-os D] [-of F] [-oa A] [-on NAME]
//                                      (prints "SOURCE TARGET" per disk)
//   v2v copy SOURCE TARGET --target-is-zero   (for each printed pair)
//   v2v output finalize DIR
//   v2v cleanup DIR
//
// The servers `input` and `output setup` start outlive the command (pidfiles
// in DIR); `cleanup` stops them, removes an unfinished output's partial
// disks and the work dir. Each step logs to DIR/STEP.log. A failing step
// undoes what it started itself: DIR is as it was, but for that step's log.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { actorLogger, createLogger } from '../log/logger.js';
import type { DiskIn } from '../metadata/schema.js';
import { nbdUnixUri, type Server } from '../process/server.js';
import { cleanupWorkDir } from '../steps/cleanup.js';
import { convertGuest } from '../steps/convert/convert.js';
import { inputDisk, writeMetadataIn } from '../steps/input/disk.js';
import { serveSource } from '../steps/input/serve.js';
import { readSource, type SourceInputType } from '../steps/input/source-input.js';
import { checkOutputOptions, outputAbort, outputFinalize, outputSetup, readOutputState, resumeOutput, type OutputOptions } from '../steps/output/output.js';
import { unconvertedMetadata } from '../metadata/schema.js';
import {
  createWorkDir,
  createWorkDirAt,
  existingWorkDir,
  readMetadataIn,
  readMetadataOut,
  writeJson,
  type WorkDir,
} from '../workdir/workdir.js';
import { parseV2vArgs, type V2vArgs } from './v2v-args.js';
import { inputTransport, type V2vContext } from './v2v-command.js';

export const STEP_COMMANDS = new Set(['input', 'convert', 'output', 'cleanup']);

export const STEPS_USAGE = `Steps on a work dir (each a subcommand):
  DIR=$(v2v input -i disk [-if FORMAT] [-on NAME] [--workdir DIR] DISK...)
        (or -i libvirtxml FILE | -i vmx [-it ssh [-ip FILE]] FILE | -i ova FILE, with -n/-b/--mac)
  v2v convert DIR [--no-convert] [-on NAME]
  v2v output setup DIR -o local|qemu|null [-os D] [-of raw|qcow2] [-oa sparse|preallocated] [-on NAME]
      prints "SOURCE TARGET" for each disk: copy each with v2v copy SOURCE TARGET --target-is-zero
  v2v output finalize DIR
  v2v cleanup DIR      stops the servers, removes unfinished output and DIR
`;

function stepLog(w: WorkDir, step: string): Logger {
  return actorLogger(createLogger({ level: 'debug', file: path.join(w.path, `${step}.log`) }), { actor: step, step });
}

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
    ['outputType', '-o'],
    ['outputStorage', '-os'],
    ['outputName', '-on'],
    ['noConvert', '--no-convert'],
    ['printSource', '--print-source'],
    ['logDir', '--log-dir'],
  ];
  const defaults = parseV2vArgs([]);
  for (const [k, flag] of given) {
    if (!allowed.includes(k) && a[k] !== defaults[k]) throw new ConfigError(`${step}: option ${flag} does not apply to this step`);
  }
  if (!allowed.includes('outputFormat') && (a.outputFormat !== defaults.outputFormat || a.outputAllocation !== defaults.outputAllocation)) {
    throw new ConfigError(`${step}: options -of and -oa apply to v2v output setup`);
  }
}

async function stepInput(argv: string[], ctx: V2vContext): Promise<void> {
  const { workdir: at, rest } = takeWorkdir(argv);
  const a = parseV2vArgs(rest);
  only('input', a, ['inputType', 'inputFormat', 'inputTransport', 'inputPasswordFile', 'outputName']);
  if (!['disk', 'libvirtxml', 'vmx', 'ova'].includes(a.inputType)) {
    throw new ConfigError(`input: -i ${a.inputType}: input type not supported (supported: -i disk, -i libvirtxml, -i vmx, -i ova)`);
  }
  if (a.files.length === 0) throw new ConfigError(`input: -i ${a.inputType}: no ${a.inputType === 'disk' ? 'disk image' : 'file'} given`);
  if (a.inputType === 'disk') return stepInputDisk(a, at, ctx);
  if (a.files.length > 1) throw new ConfigError(`input: -i ${a.inputType}: expected one file, got ${a.files.length}`);
  if (a.inputFormat) throw new ConfigError(`input: -if: only for -i disk`);
  const transport = await inputTransport(a.inputType, a.files[0]!, a.inputTransport, a.inputPasswordFile);
  const w = at ? await createWorkDirAt(at) : await createWorkDir();
  const log = stepLog(w, 'input');
  const started: Server[] = [];
  try {
    // A gzip OVA unpacks inside the work dir: its servers read it there
    // until `v2v cleanup` removes the dir.
    const source = await readSource(
      { type: a.inputType as SourceInputType, file: a.files[0]!, network: { bridges: a.bridges, networks: a.networks, macs: a.macs }, ...transport },
      log,
      ctx.signal,
      w.path,
    );
    const disks: DiskIn[] = [];
    for (const [index, d] of source.disks.entries()) {
      const s = await serveSource({ index, ...d }, { workdir: w, log, signal: ctx.signal, detach: true });
      started.push(s.server, ...s.fronts);
      disks.push({ ...s.disk, bus: d.bus });
    }
    for (const m of source.warnings) ctx.out(`v2v: warning: ${m}\n`);
    await writeMetadataIn(w, { ...source.fields, ...(a.outputName ? { name: a.outputName } : {}) }, disks);
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    await w.remove();
    throw err;
  }
  ctx.out(`${w.path}\n`);
}

async function stepInputDisk(a: V2vArgs, at: string | undefined, ctx: V2vContext): Promise<void> {
  const w = at ? await createWorkDirAt(at) : await createWorkDir();
  try {
    await inputDisk({
      files: a.files,
      ...(a.inputFormat ? { format: a.inputFormat } : {}),
      ...(a.outputName ? { name: a.outputName } : {}),
      workdir: w,
      log: stepLog(w, 'input'),
      signal: ctx.signal,
      detach: true,
    });
  } catch (err) {
    await w.remove();
    throw err;
  }
  ctx.out(`${w.path}\n`);
}

async function stepConvert(argv: string[], ctx: V2vContext): Promise<void> {
  const { dir, args } = takeDir('convert', argv);
  only('convert', args, ['noConvert', 'outputName']);
  const w = await existingWorkDir(dir);
  const meta = await readMetadataIn(w);
  const log = stepLog(w, 'convert');
  const name = args.outputName ?? meta.name;
  if (args.noConvert) {
    const out = unconvertedMetadata(meta, name);
    await writeJson(w.metadataOut, out);
    log.info({ metadataOut: out }, 'metadata.out written (--no-convert)');
    return;
  }
  await convertGuest({ workdir: w, metadata: meta, name, log, signal: ctx.signal, onWarning: (m) => ctx.out(`v2v: warning: ${m}\n`) });
}

async function stepOutput(argv: string[], ctx: V2vContext): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb !== 'setup' && verb !== 'finalize') throw new ConfigError('output: expected "setup" or "finalize" (v2v output setup|finalize DIR ...)');
  const { dir, args } = takeDir(`output ${verb}`, rest);
  const w = await existingWorkDir(dir);
  const log = stepLog(w, `output-${verb}`);
  if (!existsSync(w.metadataOut)) throw new ConfigError(`output ${verb}: ${w.path}: no metadata.out yet: run v2v convert ${dir} first`);
  const meta = await readMetadataOut(w);
  if (verb === 'setup') {
    only('output setup', args, ['outputType', 'outputStorage', 'outputFormat', 'outputName']);
    if (!['local', 'qemu', 'null'].includes(args.outputType)) {
      throw new ConfigError(`output setup: -o ${args.outputType}: output type not supported (supported: -o local, -o qemu, -o null)`);
    }
    if (await readOutputState(w)) throw new ConfigError(`output setup: ${w.path}: output setup has run here already`);
    const o: OutputOptions = {
      type: args.outputType as OutputOptions['type'],
      ...(args.outputStorage ? { storage: args.outputStorage } : {}),
      format: args.outputFormat,
      allocation: args.outputAllocation,
      name: args.outputName ?? meta.name,
      detach: true,
    };
    checkOutputOptions(o);
    const onAbort = () => void outputAbort(o, undefined, log);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const setup = await outputSetup(meta, o, w, log);
      for (const t of setup.targets) ctx.out(`${nbdUnixUri(w.inSocket(t.index))} ${t.uri}\n`);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    return;
  }
  only('output finalize', args, []);
  if (!(await readOutputState(w))) throw new ConfigError(`output finalize: ${w.path}: output setup has not run here: run v2v output setup ${dir} first`);
  const { options, setup } = await resumeOutput(w);
  const files = await outputFinalize(meta, options, setup, log);
  for (const f of files) ctx.out(`${f}\n`);
}

async function stepCleanup(argv: string[]): Promise<void> {
  const { dir, args } = takeDir('cleanup', argv);
  only('cleanup', args, []);
  await cleanupWorkDir(await existingWorkDir(dir));
}

export async function runStep(argv: string[], ctx: V2vContext): Promise<void> {
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
      return stepCleanup(rest);
    default:
      throw new ConfigError(`unknown step ${String(cmd)}`);
  }
}
