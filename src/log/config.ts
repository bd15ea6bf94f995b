// What a log is (level, file or fd) and the child logger of one actor:
// nothing here loads pino, so a thread whose logging is off (`v2v copy`
// without -v or --log-file, the copy actor it starts) never loads it.
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
