// A job's logs: one JSON file per step (and per disk for the copies), in
// the user's --log-dir or in a private dir kept only when the job failed.
// Every logger made here shares one destination per file and is closed
// when the job ends, so a service running many jobs keeps no descriptor.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { actorLogger, type LogConfig } from '../log/config.js';
import { closeLogger, createLogger } from '../log/logger.js';

export interface StepLog {
  log: Logger;
  file: string;
  /** For an actor, which opens the same file in its own thread. */
  config: LogConfig;
}

export interface JobLogs {
  readonly dir: string;
  forStep(step: string, disk?: string): StepLog;
  /** Close every log; remove our own dir unless `keep`. */
  close(keep: boolean): Promise<void>;
}

export async function openJobLogs(logDir: string | undefined, level: LogConfig['level']): Promise<JobLogs> {
  const own = logDir ? undefined : await tmpDir({ prefix: 'v2v-log-', mode: 0o700, unsafeCleanup: true });
  const dir = logDir ?? own!.path;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const roots = new Map<string, Logger>();
  return {
    dir,
    forStep(step, disk) {
      const file = path.join(dir, `${disk ? `${step}-${disk}` : step}.log`);
      const config: LogConfig = { level, file };
      let root = roots.get(file);
      if (!root) roots.set(file, (root = createLogger(config)));
      return { log: actorLogger(root, { actor: step, step, ...(disk ? { disk } : {}) }), file, config };
    },
    async close(keep) {
      for (const root of roots.values()) closeLogger(root);
      roots.clear();
      if (own && !keep) await own.cleanup();
    },
  };
}
