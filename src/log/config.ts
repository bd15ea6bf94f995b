// What a log is (level, file or fd), the child logger of one actor, and the
// logger of a log that is off: nothing here loads pino, so a thread whose
// logging is off (`v2v copy` without -v or --log-file, the copy actor it
// starts) never loads it.
import type { Logger } from 'pino';
import * as z from 'zod';

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const LogConfig = z.strictObject({
  level: LogLevel.default('silent'),
  /** Append to this file; else write to fd (default 2, stderr). */
  file: z.string().optional(),
  fd: z.number().int().min(0).optional(),
});
export type LogConfig = z.output<typeof LogConfig>;

export interface ActorBindings {
  actor: string;
  step: string;
  disk?: string;
  jobId?: string;
}

/** A child logger for one actor: every line names the step and disk. */
export function actorLogger(root: Logger, b: ActorBindings): Logger {
  return root.child({ actor: b.actor, step: b.step, disk: b.disk ?? null, ...(b.jobId ? { jobId: b.jobId } : {}) });
}

const nothing = () => {};

/** A logger that writes nothing, shaped as pino's (its children are itself). */
export function silentLogger(): Logger {
  const log = {
    level: 'silent',
    fatal: nothing,
    error: nothing,
    warn: nothing,
    info: nothing,
    debug: nothing,
    trace: nothing,
    silent: nothing,
    child: () => log,
    bindings: () => ({}),
    isLevelEnabled: () => false,
    flush: (cb?: (err?: Error) => void) => cb?.(),
  };
  return log as unknown as Logger;
}
