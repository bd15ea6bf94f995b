// Long-running helper programs (virt-v2v-in-place): argument
// arrays, their own process group so that cancel reaches the qemu appliance
// they start, output lines to the step's log, and a ProcessError with the
// last lines of stderr on failure.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { AbortError, ProcessError } from '../errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export function runProgram(
  argv: string[],
  opts: {
    log: Logger;
    signal?: AbortSignal;
    env?: NodeJS.ProcessEnv;
    what: string;
    graceMs?: number;
    /** The program's name in messages and log lines when argv[0] only launches it (unshare). */
    name?: string;
    /** Each whole line of stdout and stderr, as it comes. */
    onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
    /** Strings never written to the log as they are (passphrases): replaced by <redacted>. */
    redact?: string[];
  },
): Promise<RunResult> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const name = opts.name ?? cmd;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new AbortError(`${opts.what}: cancelled`));
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      detached: true, // a process group of its own: kill(-pid) reaches its children
    });
    let stdout = '';
    let stderr = '';
    const secrets = (opts.redact ?? []).filter((s) => s.length > 0);
    const hide = (line: string) => secrets.reduce((l, s) => l.replaceAll(s, '<redacted>'), line);
    const partial = { stdout: '', stderr: '' };
    let ownError: string | undefined;
    const emit = (stream: 'stdout' | 'stderr', line: string) => {
      // Its helpers (nbdkit with -v) write to the same pipe: their debug text
      // can run into the start of the program's own line.
      const at = line.indexOf(`${name}: error:`);
      if (at >= 0) ownError = line.slice(at);
      if (line.trim()) opts.log.debug({ [stream]: hide(line) }, name);
      opts.onLine?.(line, stream);
    };
    const lines = (stream: 'stdout' | 'stderr') => (d: string) => {
      const text = d.toString();
      if (stream === 'stdout') stdout += text;
      else stderr = (stderr + text).slice(-20_000);
      const all = (partial[stream] + text).split('\n');
      partial[stream] = all.pop()!;
      for (const line of all) emit(stream, line);
    };
    // Strings, decoded across chunk boundaries (a character split between two reads stays whole).
    child.stdout!.setEncoding('utf8').on('data', lines('stdout'));
    child.stderr!.setEncoding('utf8').on('data', lines('stderr'));
    const flush = () => {
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream]) emit(stream, partial[stream]), (partial[stream] = '');
    };
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    const onAbort = () => {
      opts.log.info(`${opts.what}: cancelling`);
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), opts.graceMs ?? 2000);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const onExit = () => kill('SIGKILL');
    process.on('exit', onExit);
    child.on('error', (e) => {
      process.off('exit', onExit);
      reject(new ProcessError(`${opts.what}: cannot run ${cmd}: ${e.message}`, { command: argv.join(' ') }));
    });
    child.on('close', (code, signal) => {
      flush();
      process.off('exit', onExit);
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (opts.signal?.aborted) return reject(new AbortError(`${opts.what}: cancelled`));
      if (code === 0) return resolve({ stdout, stderr });
      const all = stderr.split('\n').filter(Boolean);
      const tail = hide(all.slice(-5).join('\n'));
      // The program's own error line says more than its last line ("If
      // reporting bugs, ..."); "NAME: error: ..." first, wherever it was:
      // with -v its output also holds its helpers' debug lines that mention errors.
      const told = all.filter((l) => !/: debug: /.test(l));
      const last = hide(ownError ?? told.findLast((l) => /\berror\b/i.test(l)) ?? told.at(-1) ?? all.at(-1) ?? '');
      reject(
        new ProcessError(`${opts.what}: ${name} failed (${signal ?? `exit ${code}`})${last ? `: ${last}` : ''}`, {
          command: argv.join(' '),
          stderrTail: tail,
          ...(code !== null ? { exitCode: code } : {}),
          ...(signal ? { signal } : {}),
        }),
      );
    });
  });
}
