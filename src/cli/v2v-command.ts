// `v2v -i disk GUEST.img -o local -os DIR ...`: virt-v2v's command line
// over the supervisor. Renders job events as virt-v2v's `[  12.3] Step`
// lines and a progress bar per disk, or with --machine-readable as one JSON
// object a line on stdout.
import cliProgress from 'cli-progress';
import type { Engine } from '../engine/engine.js';
import { commandLine } from '../engine/from-args.js';
import { parseV2vArgs, V2V_USAGE } from '../engine/command-line.js';
import type { MetadataIn } from '../metadata/schema.js';
import type { JobEvent } from '../protocol/events.js';
import { humanSize } from '../util/size.js';

export interface V2vContext {
  signal: AbortSignal;
  out(text: string): void;
  /** Called once the command line is good, before the job makes its work dir: the stale work dirs warning. */
  warnStale?: () => Promise<void>;
}

function printSource(m: MetadataIn): string {
  const lines = [
    `    source name: ${m.name}`,
    `          input: -i ${m.input}`,
    `         memory: ${m.memory} (bytes)`,
    `       nr vCPUs: ${m.vcpus}`,
    `       firmware: ${m.firmware}`,
    'disks:',
    ...m.disks.flatMap((d) => [
      `\t${d.source} (${d.format}) [${d.bus}] ${d.size} bytes (${humanSize(d.size)})`,
      ...(d.backing?.length ? [`\t    backing: ${d.backing.join(' -> ')}`] : []),
    ]),
    'NICs:',
    ...m.nics.map((n) => `\t${n.vnetType === 'network' ? 'Network' : 'Bridge'} "${n.vnet}"${n.mac ? ` mac: ${n.mac}` : ''}${n.model ? ` [${n.model}]` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function runV2v(argv: string[], ctx: V2vContext & { engine: Engine }): Promise<void> {
  if (parseV2vArgs(argv).help) {
    ctx.out(V2V_USAGE);
    return;
  }
  const { args: a, raw } = commandLine(argv);
  await ctx.warnStale?.();
  const render = renderer(a.machineReadable, a.quiet, ctx);
  try {
    const r = await ctx.engine.convert(raw, { signal: ctx.signal, onEvent: render.event });
    render.stop();
    if (a.printSource) {
      ctx.out(a.machineReadable ? `${JSON.stringify({ type: 'source', source: r.metadataIn })}\n` : printSource(r.metadataIn));
    }
  } finally {
    render.stop();
  }
}

function renderer(machine: boolean, quiet: boolean, ctx: V2vContext): { event: (e: JobEvent) => void; stop: () => void } {
  if (machine) {
    return {
      event: (e) => {
        const timestamp = new Date().toISOString();
        // virt-v2v's own form for step messages, then ours for everything.
        if (e.type === 'step.started') ctx.out(`${JSON.stringify({ message: e.message, timestamp, type: 'message' })}\n`);
        ctx.out(`${JSON.stringify({ ...e, timestamp })}\n`);
      },
      stop: () => {},
    };
  }
  if (quiet) return { event: () => {}, stop: () => {} };
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
        case 'warning':
          // virt-v2v prints its warnings on stdout, between the step lines.
          stop();
          ctx.out(`v2v: warning: ${e.message}\n`);
          return;
        default:
          return;
      }
    },
    stop,
  };
}
