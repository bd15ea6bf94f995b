// One pino root per thread, configured from the same validated LogConfig, and
// a child per actor bound to { actor, step, disk }. Logs are JSON lines; a
// worker writes to the same file (O_APPEND) or fd as the coordinator.
import { pino, type Logger } from 'pino';
import { z } from 'zod';

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

export function createLogger(cfg: LogConfig): Logger {
  if (cfg.level === 'silent') return pino({ level: 'silent' });
  const dest = pino.destination({ dest: cfg.file ?? cfg.fd ?? 2, sync: true, append: true, mkdir: false });
  return pino(
    { level: cfg.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
}

/** A child logger for one actor: every line names the step and disk. */
export function actorLogger(root: Logger, b: ActorBindings): Logger {
  return root.child({ actor: b.actor, step: b.step, disk: b.disk ?? null, ...(b.jobId ? { jobId: b.jobId } : {}) });
}
