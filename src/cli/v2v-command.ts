// `v2v -i disk GUEST.img -o local -os DIR ...`: virt-v2v's command line
// over the supervisor. Renders job events as virt-v2v's `[  12.3] Step`
// lines and a progress bar per disk, or with --machine-readable as one JSON
// object a line on stdout.
import cliProgress from 'cli-progress';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { MetadataIn } from '../metadata/schema.js';
import type { JobEvent } from '../supervisor/events.js';
import { parseSshUri } from '../steps/input/ssh.js';
import { show } from '../steps/input/vmx/fail.js';
import { runJob } from '../supervisor/job.js';
import { errnoText } from '../util/errno.js';
import { humanSize } from '../util/size.js';
import { parseV2vArgs, V2V_USAGE } from './v2v-args.js';

export interface V2vContext {
  signal: AbortSignal;
  out(text: string): void;
}

const OUTPUTS = ['local', 'qemu', 'null'] as const;
const INPUTS = ['disk', 'libvirtxml', 'vmx', 'ova'] as const;

function printSource(m: MetadataIn): string {
  const lines = [
    `    source name: ${m.name}`,
    `          input: -i ${m.input}`,
    `         memory: ${m.memory} (bytes)`,
    `       nr vCPUs: ${m.vcpus}`,
    `       firmware: ${m.firmware}`,
    'disks:',
    ...m.disks.map((d) => `\t${d.source} (${d.format}) [${d.bus}] ${d.size} bytes (${humanSize(d.size)})`),
    'NICs:',
    ...m.nics.map((n) => `\t${n.vnetType === 'network' ? 'Network' : 'Bridge'} "${n.vnet}"${n.mac ? ` mac: ${n.mac}` : ''}${n.model ? ` [${n.model}]` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function runV2v(argv: string[], ctx: V2vContext): Promise<void> {
  const a = parseV2vArgs(argv);
  if (a.help) {
    ctx.out(V2V_USAGE);
    return;
  }
  if (!INPUTS.includes(a.inputType as (typeof INPUTS)[number])) {
    throw new ConfigError(`-i ${a.inputType}: input type not supported yet (supported: -i disk, -i libvirtxml, -i vmx, -i ova)`);
  }
  if (a.files.length === 0) throw new ConfigError(`-i ${a.inputType}: no ${a.inputType === 'disk' ? 'disk image' : 'file'} given`);
  if (a.inputType !== 'disk' && a.files.length > 1) throw new ConfigError(`-i ${a.inputType}: expected one file, got ${a.files.length}`);
  if (a.inputType !== 'disk' && a.inputFormat) throw new ConfigError(`-if: only for -i disk (-i ${a.inputType} says each disk's format)`);
  const transport = await inputTransport(a.inputType, a.files[0]!, a.inputTransport, a.inputPasswordFile);
  const network = { bridges: a.bridges, networks: a.networks, macs: a.macs };
  if (!a.printSource && !(OUTPUTS as readonly string[]).includes(a.outputType)) {
    throw new ConfigError(`-o ${a.outputType}: output type not supported (supported: -o local, -o qemu, -o null)`);
  }
  const render = renderer(a.machineReadable, a.quiet, ctx);
  try {
    const r = await runJob(
      {
        input:
          a.inputType === 'disk'
            ? { type: 'disk', files: a.files, ...(a.inputFormat ? { format: a.inputFormat } : {}), network }
            : { type: a.inputType as 'libvirtxml' | 'vmx' | 'ova', file: a.files[0]!, network, ...transport },
        output: {
          type: a.outputType as (typeof OUTPUTS)[number],
          ...(a.outputStorage ? { storage: a.outputStorage } : {}),
          format: a.outputFormat,
          allocation: a.outputAllocation,
        },
        ...(a.outputName ? { name: a.outputName } : {}),
        noConvert: a.noConvert,
        printSourceOnly: a.printSource,
        ...(a.logDir ? { logDir: a.logDir } : {}),
        logLevel: a.verbose || a.trace ? 'trace' : 'debug',
      },
      { signal: ctx.signal, onEvent: render.event },
    );
    render.stop();
    if (a.printSource) {
      ctx.out(a.machineReadable ? `${JSON.stringify({ type: 'source', source: r.metadataIn })}\n` : printSource(r.metadataIn));
    }
  } finally {
    render.stop();
  }
}

/**
 * -it ssh and -ip FILE: only for -i vmx with an ssh:// URI; FILE must be a
 * readable regular file (its absolute path goes to nbdkit as password=+FILE,
 * so the password itself is never on a command line).
 */
export async function inputTransport(
  type: string,
  file: string,
  it: string | undefined,
  ip: string | undefined,
): Promise<{ transport?: 'ssh'; passwordFile?: string }> {
  if (it === undefined) {
    if (ip !== undefined) throw new ConfigError('-ip: only with -it ssh');
    if (type === 'vmx' && /^ssh:\/\//i.test(file)) throw new ConfigError('-i vmx: an ssh:// URI needs -it ssh');
    return {};
  }
  if (it !== 'ssh') throw new ConfigError(`-it ${it}: input transport not supported (supported: -it ssh)`);
  if (type !== 'vmx') throw new ConfigError(`-it ssh: only for -i vmx, not -i ${type}`);
  parseSshUri(file);
  if (ip === undefined) return { transport: 'ssh' };
  const passwordFile = path.resolve(ip);
  try {
    const st = await stat(passwordFile);
    if (!st.isFile()) throw new ConfigError(`-ip ${show(ip)}: not a regular file`);
    await access(passwordFile, constants.R_OK);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`-ip ${show(ip)}: ${errnoText(err)}`);
  }
  return { transport: 'ssh', passwordFile };
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
