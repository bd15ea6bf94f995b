// NBD servers as subprocesses (nbdkit, qemu-nbd) on Unix sockets in a private
// directory. Started with an argument array (never a shell), ready when the
// pidfile appears, stopped with SIGTERM then SIGKILL. nbdkit also gets
// --exit-with-parent so it cannot outlive us even if we are SIGKILLed.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ProcessError } from '../errors.js';
import { recordServer, serverRecordPath, stopByPidfile } from './server-record.js';

export interface Server {
  readonly pid: number;
  readonly socket: string;
  /** URI of the server's default export (nbd+unix://, or nbd:// over TCP). */
  readonly uri: string;
  readonly command: string[];
  /** The last lines the server wrote to stderr. */
  stderrTail(): string;
  /** Resolves when the process has exited (however it ended). */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * A server's own account of what went wrong: the words after "error:" on
 * the first error line of its stderr tail ("nbdkit: ssh[1]: error: failed
 * to connect to remote host: ..."), or undefined.
 */
export function serverError(server: Pick<Server, 'stderrTail'>): string | undefined {
  const line = server
    .stderrTail()
    .split('\n')
    .find((l) => /error:/.test(l));
  return line?.replace(/^.*?error:\s*/, '');
}

/**
 * serverError, waiting up to `ms` for the line: a client sees its failure
 * (the handshake ends) a moment before the server has logged why.
 */
export async function serverErrorSoon(server: Pick<Server, 'stderrTail'>, ms = 1000): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const why = serverError(server);
    if (why !== undefined || Date.now() >= deadline) return why;
    await sleep(20);
  }
}

export function nbdUnixUri(socket: string, exportName = ''): string {
  return `nbd+unix:///${encodeURIComponent(exportName)}?socket=${encodeURIComponent(socket)}`;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for servers without --exit-with-parent (qemu-nbd).
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export interface StartOptions {
  /** Directory for the socket and pidfile; must be private (0700). */
  dir: string;
  name: string;
  log?: Logger;
  /** Give up waiting for the pidfile after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Socket path (default DIR/NAME.sock); the pidfile is DIR/NAME.pid. */
  socket?: string;
  /** Extra environment, e.g. TMPDIR for where overlays keep their data. */
  env?: NodeJS.ProcessEnv;
  /**
   * Outlive this process (the step subcommands: `v2v input` returns while
   * its overlays keep serving): no --exit-with-parent, its own session,
   * stderr to DIR/NAME.log. Stopped later through its pidfile (stopByPidfile).
   */
  detach?: boolean;
}

/** The pidfile holds a whole line (servers write it non-atomically). */
function pidWritten(pidfile: string): boolean {
  try {
    return /^\d+\n/.test(readFileSync(pidfile, 'utf8'));
  } catch {
    return false;
  }
}

async function startServer(
  argv: string[],
  socket: string,
  pidfile: string,
  opts: StartOptions,
  uri = nbdUnixUri(socket),
): Promise<Server> {
  installExitHook();
  // A stale pidfile would make a dead server look ready, a stale socket
  // would make it fail ("Address already in use").
  await Promise.all([rm(pidfile, { force: true }), rm(serverRecordPath(pidfile), { force: true }), rm(socket, { force: true })]);
  const [cmd, ...args] = argv as [string, ...string[]];
  const logFile = path.join(opts.dir, `${opts.name}.log`);
  const errFd = opts.detach ? openSync(logFile, 'a', 0o600) : undefined;
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', errFd ?? 'pipe'],
      env: { ...process.env, ...opts.env },
      detached: opts.detach === true,
    });
  } finally {
    if (errFd !== undefined) closeSync(errFd);
  }
  if (!opts.detach) live.add(child);
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-4000);
    opts.log?.debug({ server: opts.name, stderr: d.trimEnd() }, 'server stderr');
  });
  const readTail = () => {
    if (!opts.detach) return tail;
    try {
      return readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      live.delete(child);
      resolve();
    });
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      resolve();
    });
  });
  const stderrTail = () => readTail().split('\n').filter(Boolean).slice(-5).join('\n');
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 3000): Promise<void> => {
    stopping ??= (async () => {
      if (exitInfo || spawnError) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    })();
    return stopping;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (!pidWritten(pidfile)) {
    if (spawnError) {
      throw new ProcessError(`${opts.name}: cannot run ${cmd}: ${spawnError.message}`, { command: argv.join(' ') });
    }
    // A detached nbdkit daemonizes: its first process exits 0 at once.
    if (exitInfo && !(opts.detach && exitInfo.code === 0)) {
      throw new ProcessError(
        `${opts.name}: ${cmd} exited (${exitInfo.signal ?? `status ${exitInfo.code}`}) before it was ready: ${stderrTail() || 'no message'}`,
        { command: argv.join(' '), stderrTail: stderrTail(), ...(exitInfo.code !== null ? { exitCode: exitInfo.code } : {}) },
      );
    }
    if (opts.signal?.aborted || Date.now() > deadline) {
      await stop(500);
      throw new ProcessError(`${opts.name}: ${cmd} was not ready in time`, { command: argv.join(' ') });
    }
    await sleep(10);
  }
  // Who wrote the pidfile: cleanup by records stops only that process (server-record.ts).
  await recordServer(pidfile, uri.startsWith('nbd+unix:') ? socket : undefined);
  opts.log?.debug({ server: opts.name, pid: child.pid, argv, detached: opts.detach === true }, 'server started');
  if (opts.detach) {
    child.unref();
    return adoptServer(opts.dir, opts.name, socket, uri, argv);
  }
  return { pid: child.pid!, socket, uri, command: argv, stderrTail, exited, stop };
}

/**
 * Start nbdkit serving `pluginArgs` (plugin, its parameters, filters as
 * "--filter=NAME" before the plugin) on DIR/NAME.sock.
 */
export function startNbdkit(
  pluginArgs: string[],
  opts: StartOptions & { readonly?: boolean; threads?: number; tcp?: { host: string; port: number } },
): Promise<Server> {
  const socket = opts.socket ?? path.join(opts.dir, `${opts.name}.sock`);
  const pidfile = path.join(opts.dir, `${opts.name}.pid`);
  const argv = [
    'nbdkit',
    // nbdkit 1.32 sets PR_SET_PDEATHSIG in the foreground even without
    // --exit-with-parent (seen with strace): a server that must outlive us
    // runs as nbdkit's own daemon, logging to stderr (our DIR/NAME.log).
    ...(opts.detach ? ['--log=stderr'] : ['--exit-with-parent', '--foreground']),
    '--pidfile',
    pidfile,
    ...(opts.tcp ? ['-i', opts.tcp.host, '-p', String(opts.tcp.port)] : ['--unix', socket]),
    ...(opts.readonly ? ['--readonly'] : []),
    ...(opts.threads ? ['--threads', String(opts.threads)] : []),
    ...pluginArgs,
  ];
  return startServer(argv, socket, pidfile, opts, opts.tcp ? `nbd://${opts.tcp.host}:${opts.tcp.port}` : undefined);
}

/**
 * Start qemu-nbd over FILE; `snapshot` (-s) keeps the file unmodified;
 * `bitmap` (-B) offers that persistent dirty bitmap as the meta context
 * "qemu:dirty-bitmap:NAME".
 */
export function startQemuNbd(
  file: string,
  opts: StartOptions & { format?: string; imageOpts?: boolean; snapshot?: boolean; readonly?: boolean; shared?: number; bitmap?: string; allocationDepth?: boolean },
): Promise<Server> {
  const socket = opts.socket ?? path.join(opts.dir, `${opts.name}.sock`);
  const pidfile = path.join(opts.dir, `${opts.name}.pid`);
  const argv = [
    'qemu-nbd',
    '-t',
    `--shared=${opts.shared ?? 0}`,
    '--discard=unmap',
    '--socket',
    socket,
    '--pid-file',
    pidfile,
    ...(opts.format ? ['--format', opts.format] : []),
    ...(opts.imageOpts ? ['--image-opts'] : []),
    ...(opts.snapshot ? ['-s'] : []),
    ...(opts.readonly ? ['-r'] : []),
    ...(opts.bitmap !== undefined ? ['-B', opts.bitmap] : []),
    // qemu:allocation-depth: which layer of a chain holds each extent.
    ...(opts.allocationDepth ? ['-A'] : []),
    file,
  ];
  return startServer(argv, socket, pidfile, opts);
}

/**
 * A Server for one started earlier with `detach` (by another process, or a
 * thread that has gone): known by its pidfile DIR/NAME.pid.
 */
export function adoptServer(dir: string, name: string, socket: string, uri = nbdUnixUri(socket), command: string[] = []): Server {
  const pidfile = path.join(dir, `${name}.pid`);
  let pid = 0;
  try {
    pid = Number(readFileSync(pidfile, 'utf8').trim());
  } catch {
    // Gone already: stop() has nothing to do.
  }
  let stopping: Promise<void> | undefined;
  let done!: () => void;
  const exited = new Promise<void>((r) => (done = r));
  return {
    pid,
    socket,
    uri,
    command,
    stderrTail: () => {
      try {
        return readFileSync(path.join(dir, `${name}.log`), 'utf8').split('\n').filter(Boolean).slice(-5).join('\n');
      } catch {
        return '';
      }
    },
    exited,
    stop: (graceMs?: number) => (stopping ??= stopByPidfile(pidfile, graceMs).then(() => done())),
  };
}
