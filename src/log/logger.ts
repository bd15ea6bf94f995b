// One pino root per thread, configured from the same validated LogConfig, and
// a child per actor bound to { actor, step, disk }. Logs are JSON lines; a
// worker writes to the same file (O_APPEND) or fd as the coordinator.
//
// File descriptors: a thread holds one destination per log file (keyed by its
// resolved path), shared by every logger on that file and counted; each
// createLogger() takes a reference and closeLogger() gives it back, closing
// the fd with the last one, so a long-lived service opens no fd per job. We
// open the file ourselves: mode 0600 when created, appended to when it
// exists, and never through a symbolic link planted at its path.
import fs from 'node:fs';
import path from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
import { silentLogger, type LogConfig } from './config.js';
import { InputError } from '../errors.js';

type SonicBoom = ReturnType<typeof pino.destination>;

/** One open log file of this thread. */
interface FileDestination {
  key: string;
  fd: number;
  dev: number;
  ino: number;
  dest: SonicBoom;
  refs: number;
}

/** What one createLogger() call holds: one reference to one destination. */
interface Handle {
  entry: FileDestination;
  closed: boolean;
}

/** Per thread (module state): worker threads load their own copy. */
const files = new Map<string, FileDestination>();
/** Destinations on fds we do not own (stderr, a caller's fd): never closed. */
const fdDestinations = new Map<number, SonicBoom>();
/** On the root logger; its children inherit it through their prototype. */
const handleSym = Symbol('v2v.logHandle');

const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;

function openLogFile(file: string): number {
  try {
    return fs.openSync(file, OPEN_FLAGS, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ELOOP'
        ? 'it is a symbolic link (refusing to follow it)'
        : ((err as Error).message.split('\n')[0] ?? String(err));
    throw new InputError(`cannot open the log file ${file}: ${why}`, { cause: err });
  }
}

/** The file at KEY is still the one ENTRY has open (not removed or replaced). */
function sameFile(entry: FileDestination): boolean {
  try {
    const st = fs.lstatSync(entry.key);
    return st.dev === entry.dev && st.ino === entry.ino;
  } catch {
    return false;
  }
}

function acquireFile(file: string): FileDestination {
  const key = path.resolve(file);
  const cached = files.get(key);
  if (cached && sameFile(cached)) {
    cached.refs++;
    return cached;
  }
  // New, or the file was removed or replaced since: open it again. A stale
  // entry stays open for the loggers that still hold it.
  const fd = openLogFile(key);
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  const entry: FileDestination = {
    key,
    fd,
    dev: st.dev,
    ino: st.ino,
    dest: pino.destination({ fd, dest: fd, sync: true, minLength: 0 }),
    refs: 1,
  };
  files.set(key, entry);
  return entry;
}

function release(entry: FileDestination): void {
  entry.refs--;
  if (entry.refs > 0) return;
  if (files.get(entry.key) === entry) files.delete(entry.key);
  try {
    entry.dest.flushSync();
  } catch {
    // Nothing buffered (sync writes), or the file is gone: close anyway.
  }
  // Closed here, synchronously, rather than by the destination's end(): that
  // fsyncs and closes later, from the event loop, and a service that closes
  // loggers in a loop would hold their fds meanwhile. No write can reach the
  // destination after this: every logger on it writes through a closed Handle.
  fs.closeSync(entry.fd);
}

function fdDestination(fd: number): SonicBoom {
  let dest = fdDestinations.get(fd);
  if (!dest) {
    dest = pino.destination({ fd, dest: fd, sync: true, minLength: 0 });
    fdDestinations.set(fd, dest);
  }
  return dest;
}

const pinoOptions = (level: LogConfig['level']) => ({
  level,
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

/**
 * A root logger for CFG. A logger on a file holds a reference to the thread's
 * one fd for that file until closeLogger(); loggers on fds and silent loggers
 * hold nothing.
 */
export function createLogger(cfg: LogConfig): Logger {
  if (cfg.level === 'silent') return silentLogger();
  if (cfg.file === undefined) return pino(pinoOptions(cfg.level), fdDestination(cfg.fd ?? 2));
  const handle: Handle = { entry: acquireFile(cfg.file), closed: false };
  // Each logger writes through its own handle, so that one closed logger
  // (whose lines are then dropped) never writes to an fd closed under it.
  const stream: DestinationStream & { flush(cb?: (err?: Error) => void): void; flushSync(): void } = {
    write(s: string) {
      if (!handle.closed) handle.entry.dest.write(s);
    },
    flush(cb?: (err?: Error) => void) {
      if (handle.closed) cb?.();
      else handle.entry.dest.flush(cb);
    },
    flushSync() {
      if (!handle.closed) handle.entry.dest.flushSync();
    },
  };
  const logger = pino(pinoOptions(cfg.level), stream);
  Object.defineProperty(logger, handleSym, { value: handle, enumerable: false });
  return logger;
}

/**
 * Give back the reference LOGGER (from createLogger, or any child of it)
 * holds: the last one on a file flushes and closes its fd. Idempotent; a
 * no-op for silent loggers and loggers on fds. The logger (and its children)
 * write nothing after this.
 */
export function closeLogger(logger: Logger): void {
  const handle = (logger as Logger & { [handleSym]?: Handle })[handleSym];
  if (!handle || handle.closed) return;
  handle.closed = true;
  release(handle.entry);
}
