// A root logger for a LogConfig, with pino loaded only when something is
// logged: a silent config gets a logger that drops every line without
// loading pino (its modules cost a thread tens of milliseconds at start,
// most of a small `v2v copy`'s own time). Loggers from openLogger() are
// given back with closeOpened().
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { silentLogger, type LogConfig } from './config.js';

type LoggerModule = typeof import('./logger.js');
let loaded: LoggerModule | undefined;

async function loadLoggerModule(): Promise<LoggerModule> {
  try {
    return await import('./logger.js');
  } catch (err) {
    // Under the tests a worker thread runs this file as .ts through tsx's
    // require hook, whose dynamic import() does not find .ts files: require it.
    if (!import.meta.url.endsWith('.ts')) throw err;
    return createRequire(import.meta.url)('./logger.ts') as LoggerModule;
  }
}

export async function openLogger(cfg: LogConfig): Promise<Logger> {
  if (cfg.level === 'silent') return silentLogger();
  loaded ??= await loadLoggerModule();
  return loaded.createLogger(cfg);
}

/** closeLogger() for a logger of openLogger() (a silent one holds nothing). */
export function closeOpened(log: Logger): void {
  loaded?.closeLogger(log);
}
