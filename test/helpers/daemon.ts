// Servers the fixtures do not start (nbdkit on TCP, servers that libnbd
// forks itself): spawned from an argument array, ready when the pidfile holds
// a pid, and killed when the test finishes if they are still there.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { onTestFinished } from 'vitest';
import { alive, waitFor } from './tools.js';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The pid in PIDFILE once the server has written it, else undefined. */
export function readPid(pidfile: string): number | undefined {
  if (!existsSync(pidfile)) return undefined;
  const m = /^(\d+)\n/.exec(readFileSync(pidfile, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/** Kill PID with SIGKILL when the test finishes, if it is still alive. */
export function killAtEnd(pid: number): void {
  onTestFinished(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}

export async function waitForPid(pidfile: string, timeoutMs = 10_000): Promise<number> {
  await waitFor(() => readPid(pidfile) !== undefined, timeoutMs, `pidfile ${pidfile}`);
  return readPid(pidfile)!;
}

/**
 * Run a server that writes PIDFILE when it is ready (nbdkit --foreground
 * --pidfile). Rejects with its stderr if it exits first.
 */
export async function spawnDaemon(argv: string[], pidfile: string): Promise<{ pid: number; stderr: () => string }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      stderr += e.message;
      exited = true;
      resolve();
    });
    child.on('exit', () => {
      exited = true;
      resolve();
    });
  });
  onTestFinished(async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exit;
    clearTimeout(t);
  });
  await waitFor(() => exited || readPid(pidfile) !== undefined, 10_000, `${argv[0]} pidfile`);
  if (exited) throw new Error(`${argv.join(' ')} exited before it was ready: ${stderr}`);
  return { pid: child.pid!, stderr: () => stderr };
}
