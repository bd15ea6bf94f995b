// `v2v copy [options] SOURCE TARGET`, with nbdcopy's options where they
// overlap.
import { Command, Option } from 'commander';
import { copy } from '../copy/copy.js';
import { parseOperands } from '../copy/endpoint.js';
import { DEFAULT_REQUEST_SIZE, defaultConnections } from '../copy/options.js';
import { humanSize, parseSize } from '../util/size.js';
import { barProgress, fdProgress, type ProgressFormat, type ProgressSink } from './progress.js';
import type { CliContext } from './context.js';
import { restoreGroups } from './groups.js';

const int = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new RangeError(`${what}: expected a whole number, got "${v}"`);
  return Number(v);
};
const size = (what: string) => (v: string) => parseSize(v, what);

export function copyCommand(ctx: CliContext): Command {
  return new Command('copy')
    .description('copy a disk between NBD servers, local files and null:')
    .usage('[options] SOURCE TARGET   (SOURCE, TARGET := NBD-URI | FILE | [ CMD ARGS ... ]; TARGET += null:)')
    .argument('<operands...>')
    .addOption(
      new Option('-C, --connections <n>', `maximum NBD connections per side (default: ${defaultConnections()} here)`).argParser(
        int('--connections'),
      ),
    )
    .addOption(new Option('-R, --requests <n>', 'requests in flight per connection (default: 32)').argParser(int('--requests')))
    .addOption(new Option('--request-size <bytes>', 'request size: where requests start (default: 128K), fixed when given alone').argParser(size('--request-size')))
    .addOption(
      new Option('--max-request-size <bytes>', 'request sizes tried while copying (x4 from --request-size), up to this (default: 2M; 0 = fixed)').argParser(
        size('--max-request-size'),
      ),
    )
    .addOption(new Option('--queue-size <bytes>', 'bytes in flight per connection; sets --requests').argParser(size('--queue-size')))
    .addOption(
      new Option('--memory-budget <bytes>', 'most memory for request buffers; lowers --requests to fit (default: 64M)').argParser(
        size('--memory-budget'),
      ),
    )
    .addOption(new Option('-S, --sparse <bytes>', 'zero-detection block size, 0 = off (default: 4096)').argParser(size('--sparse')))
    .addOption(new Option('--target-is-zero', 'assume the target is already zero'))
    .addOption(new Option('--destination-is-zero', 'same as --target-is-zero').hideHelp())
    .addOption(new Option('--allocated', 'fully allocate the target (no holes)'))
    .addOption(new Option('--no-extents', "ignore the source's extents and read everything"))
    .addOption(new Option('--flush', 'flush the target at the end (the default)'))
    .addOption(new Option('--no-flush', 'do not flush the target at the end'))
    .addOption(new Option('--retries <n>', 'retry a failed read or write N times (default: 0)').argParser(int('--retries')))
    .addOption(new Option('--rate-limit <bytes>', 'read at most BYTES per second from the source, such as 32M (default: no limit)').argParser(size('--rate-limit')))
    .addOption(new Option('-p, --progress <where>', 'progress: a bar on stderr, or =FD for lines on descriptor FD'))
    .addOption(new Option('--progress-format <format>', 'format of --progress=FD lines').choices(['percent', 'json']).default('percent'))
    .addOption(new Option('-T, --threads <n>', 'accepted for nbdcopy compatibility; one thread per connection').argParser(int('--threads')).hideHelp())
    .addOption(new Option('--socket-buffer <bytes>', 'socket buffer size, 0 = system default').argParser(size('--socket-buffer')).hideHelp())
    .addOption(new Option('--range-size <bytes>', 'work unit per connection').argParser(size('--range-size')).hideHelp())
    .addOption(new Option('--stats', 'print what was copied at the end'))
    .action(async (operands: string[], o: Record<string, unknown>) => {
      const { source, target } = parseOperands(restoreGroups(operands, ctx.groups));
      const requestSize = (o.requestSize as number | undefined) ?? DEFAULT_REQUEST_SIZE;
      const requests =
        (o.requests as number | undefined) ??
        (o.queueSize !== undefined ? Math.max(1, Math.floor((o.queueSize as number) / requestSize)) : undefined);
      let sink: ProgressSink | undefined;
      const where = o.progress as string | undefined;
      if (where !== undefined) {
        if (where === 'bar') sink = barProgress('copy');
        else if (/^\d+$/.test(where)) sink = fdProgress(Number(where), o.progressFormat as ProgressFormat, 'disk');
        else throw new RangeError(`--progress: expected a file descriptor number, got "${where}"`);
      }
      try {
        const stats = await copy({
          source,
          target,
          options: {
            ...(o.connections !== undefined ? { connections: o.connections as number } : {}),
            ...(requests !== undefined ? { requests } : {}),
            ...(o.requestSize !== undefined ? { requestSize } : {}),
            // nbdcopy's --request-size is the size: fixed, unless a ceiling is given too.
            ...(o.maxRequestSize !== undefined
              ? { maxRequestSize: o.maxRequestSize as number }
              : o.requestSize !== undefined
                ? { maxRequestSize: 0 }
                : {}),
            ...(o.queueSize !== undefined ? { queueSize: o.queueSize as number } : {}),
            ...(o.sparse !== undefined ? { sparse: o.sparse as number } : {}),
            ...(o.retries !== undefined ? { retries: o.retries as number } : {}),
            ...(o.socketBuffer !== undefined ? { socketBuffer: o.socketBuffer as number } : {}),
            ...(o.rangeSize !== undefined ? { rangeSize: o.rangeSize as number } : {}),
            ...(o.rateLimit !== undefined ? { rateLimit: o.rateLimit as number } : {}),
            ...(o.memoryBudget !== undefined ? { memoryBudget: o.memoryBudget as number } : {}),
            targetIsZero: Boolean(o.targetIsZero || o.destinationIsZero),
            allocated: Boolean(o.allocated),
            extents: o.extents !== false,
            flush: o.flush !== false,
          },
          log: ctx.log,
          signal: ctx.signal,
          ...(ctx.copyPool ? { pool: ctx.copyPool } : {}),
          ...(sink ? { onProgress: (d: number, t: number) => sink!.update(d, t) } : {}),
        });
        sink?.stop();
        if (o.stats) {
          ctx.out(
            `copied ${humanSize(stats.size)} in ${stats.seconds.toFixed(2)} s ` +
              `(${(stats.size / 1e6 / Math.max(stats.seconds, 1e-6)).toFixed(0)} MB/s): ` +
              `data ${humanSize(stats.bytesData)}, zeroed ${humanSize(stats.bytesZeroed)}, ` +
              `skipped ${humanSize(stats.bytesSkipped)}, connections ${stats.connections}\n`,
          );
        }
      } finally {
        sink?.stop();
      }
    });
}
