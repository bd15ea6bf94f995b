// `v2v -i disk GUEST.img -o local -os DIR ...`: virt-v2v's command line
// over the supervisor. Renders job events as virt-v2v's `[  12.3] Step`
// lines and a progress bar per disk, or with --machine-readable as one JSON
// object a line on stdout.
import cliProgress from 'cli-progress';
import type { Engine } from '../engine/engine.js';
import { commandLine } from '../engine/from-args.js';
import { parseV2vArgs, V2V_USAGE } from '../engine/command-line.js';
import { compatQuery, machineChannel } from './v2v-compat.js';
import { versionLine } from '../util/version.js';
import { printSource } from './print-source.js';
import type { JobEvent } from '../protocol/events.js';
import { humanSize } from '../util/size.js';

export interface V2vContext {
  signal: AbortSignal;
  out(text: string): void;
  /** stderr: warnings (`v2v: warning: ...`), which --quiet does not hide, as virt-v2v's. */
  err(text: string): void;
  /** Called once the command line is good, before the job makes its work dir: the stale work dirs warning. */
  warnStale?: () => Promise<void>;
}

export async function runV2v(argv: string[], ctx: V2vContext & { engine: Engine }): Promise<void> {
  const early = parseV2vArgs(argv);
  if (early.version) {
    ctx.out(versionLine());
    return;
  }
  if (early.help) {
    ctx.out(V2V_USAGE);
    return;
  }
  // --machine-readable[=FORMAT]: the JSON lines (or the capabilities) go there.
  const machine = early.machineReadable ? machineChannel(early.machineReadableTo, ctx.out) : undefined;
  try {
    if (compatQuery(early, machine, ctx.out)) return;
    const { args: a, raw } = commandLine(argv);
    await ctx.warnStale?.();
    const render = renderer(machine?.write, a.quiet, ctx);
    try {
      const r = await ctx.engine.convert(raw, { signal: ctx.signal, onEvent: render.event });
      render.stop();
      if (a.printSource) {
        if (machine) machine.write(`${JSON.stringify({ type: 'source', source: r.metadataIn })}\n`);
        else ctx.out(printSource(r.metadataIn));
      }
    } finally {
      render.stop();
    }
  } finally {
    machine?.close();
  }
}

function renderer(machine: ((text: string) => void) | undefined, quiet: boolean, ctx: V2vContext): { event: (e: JobEvent) => void; stop: () => void } {
  if (machine) {
    return {
      event: (e) => {
        const timestamp = new Date().toISOString();
        // virt-v2v's own form for step messages, then ours for everything.
        if (e.type === 'step.started') machine(`${JSON.stringify({ message: e.message, timestamp, type: 'message' })}\n`);
        machine(`${JSON.stringify({ ...e, timestamp })}\n`);
      },
      stop: () => {},
    };
  }
  const text = quiet ? { event: () => {}, stop: () => {} } : textRenderer(ctx);
  return {
    event: (e) => {
      // Warnings on stderr, also with --quiet: scripts diff stdout (--print-source) and grep 2>&1.
      if (e.type === 'warning') {
        text.stop();
        ctx.err(`v2v: warning: ${e.message}\n`);
      } else text.event(e);
    },
    stop: text.stop,
  };
}

/** virt-v2v's `[  12.3] Step` lines on stdout, and a bar per disk on a terminal's stderr. */
function textRenderer(ctx: V2vContext): { event: (e: JobEvent) => void; stop: () => void } {
  let bars: cliProgress.MultiBar | undefined;
  const perDisk = new Map<string, cliProgress.SingleBar>();
  const stop = () => {
    bars?.stop();
    bars = undefined;
  };
  return {
    event: (e) => {
      switch (e.type) {
        case 'step.started':
          if (e.step === 'cleanup') return;
          stop();
          ctx.out(`[${e.elapsed.toFixed(1).padStart(6)}] ${e.message}\n`);
          return;
        case 'copy.started':
          // Bars are for a terminal; a log file or pipe gets the step lines only.
          if (!process.stderr.isTTY) return;
          bars ??= new cliProgress.MultiBar(
            {
              stream: process.stderr,
              format: '{disk} [{bar}] {percentage}% {doneH}/{totalH}',
              hideCursor: true,
              clearOnComplete: false,
              noTTYOutput: false,
              barsize: 30,
            },
            cliProgress.Presets.shades_classic,
          );
          perDisk.set(e.disk, bars.create(Math.max(e.total, 1), 0, { disk: e.disk, doneH: '0 B', totalH: humanSize(e.total) }));
          return;
        case 'copy.progress':
          perDisk.get(e.disk)?.update(e.done, { disk: e.disk, doneH: humanSize(e.done), totalH: humanSize(e.total) });
          return;
        default:
          return;
      }
    },
    stop,
  };
}
