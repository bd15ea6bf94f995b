// The conversion's private network. virt-v2v-in-place 2.2 reads NBD disks
// only from a loopback TCP port, and a port on the host's loopback is open to
// every local user (REFERENCE.md: `nobody` read the guest's disk through one
// and wrote into the overlay that became the output). So every program of
// the conversion that listens on or connects to TCP (the overlays' proxies,
// virt-v2v-in-place) runs inside a network
// namespace of its own, whose only network is its own loopback: no process
// in the host's namespace can connect. bin/netns-run.sh is the launcher run
// inside it (an argument array, never a shell string): it brings lo up,
// starts the proxies, runs the program with its output relayed, and exits
// with its status. The overlays stay on Unix sockets in the private work
// dir (0700), which the proxies reach through the file system.
//
// root: `unshare --net`. Other users: `unshare --user --map-root-user --net`
// where the kernel allows unprivileged user namespaces (the program then runs
// as its own uid again, in a nested user namespace). Where neither works the
// conversion is refused: the disks are never exposed instead.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { EngineError, oneLine } from '../../errors.js';
import { runProgram, type RunResult } from '../../process/run.js';

/** NBD's port, then one up per disk: any port is free in a fresh namespace. */
export const FIRST_PORT = 10809;

/** bin/netns-run.sh of this package, from src/ (vitest), dist/src/ or dist/bundle/. */
export function launcherPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = path.join(dir, 'bin', 'netns-run.sh');
    if (existsSync(f)) return f;
    const up = path.dirname(dir);
    if (up === dir) throw new EngineError('PROCESS_ERROR', 'convert: bin/netns-run.sh is missing from the package');
    dir = up;
  }
}

/** How to enter a private network namespace as this user. */
export interface PrivateNetwork {
  /** unshare's options. */
  unshare: string[];
  /** Extra launcher options (a non-root user: run the program as itself again). */
  launcher: string[];
}

function candidates(): PrivateNetwork[] {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const userns = ['--user', '--map-root-user', '--net'];
  if (uid === 0) return [{ unshare: ['--net'], launcher: [] }, { unshare: userns, launcher: [] }];
  return [{ unshare: userns, launcher: ['--as', `${uid}:${gid}`] }];
}

/** The inode of this process's network namespace: the launcher must be elsewhere. */
function hostNamespace(): string {
  return String(statSync('/proc/self/ns/net').ino);
}

function probe(argv: string[]): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    c.on('error', (e) => resolve({ ok: false, why: e.message }));
    c.on('close', (code) =>
      resolve({ ok: code === 0, why: (err.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${code}`).replace(/^(unshare|v2v-netns-run): /, '') }),
    );
  });
}

/** Why a non-root user has no user namespace, when a sysctl says so. */
function userNamespaceHint(): string {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const clone = read('/proc/sys/kernel/unprivileged_userns_clone');
  const max = read('/proc/sys/user/max_user_namespaces');
  const parts = [];
  if (clone !== undefined && clone !== '1') parts.push(`kernel.unprivileged_userns_clone=${clone}`);
  if (max === '0') parts.push('user.max_user_namespaces=0');
  return parts.length ? ` (${parts.join(', ')})` : '';
}

let found: PrivateNetwork | undefined;

/**
 * The first way into a private network namespace that works here (tried
 * with the launcher's --probe: the namespace is not the host's, lo comes
 * up). Throws NO_PRIVATE_NETWORK, one line, when there is none.
 */
export async function privateNetwork(): Promise<PrivateNetwork> {
  if (found) return found;
  const launcher = launcherPath();
  const hostns = hostNamespace();
  const tried: string[] = [];
  for (const c of candidates()) {
    const r = await probe(['unshare', ...c.unshare, '--', 'bash', launcher, hostns, '/', ...c.launcher, '--probe']);
    if (r.ok) return (found = c);
    tried.push(`unshare ${c.unshare.join(' ')}: ${oneLine(r.why, 200)}`);
  }
  const root = (process.getuid?.() ?? 0) === 0;
  throw new EngineError(
    'NO_PRIVATE_NETWORK',
    `convert: refusing to convert: cannot make a private network namespace (${tried.join('; ')})${root ? '' : userNamespaceHint()}, ` +
      `without which virt-v2v-in-place would read the disks through loopback TCP ports open to every local user` +
      (root ? '' : ' (run as root, or allow unprivileged user namespaces)'),
  );
}

export interface Proxy {
  /** Its pidfile and log in the work dir: DIR/NAME.pid, DIR/NAME.log. */
  name: string;
  /** The overlay's Unix socket. */
  socket: string;
  port: number;
}

/**
 * Run ARGV in a new private network namespace, with PROXIES listening on
 * its loopback for as long as it runs; its stdout and stderr as
 * runProgram's (one process group: cancel kills the whole tree).
 */
export async function runWithProxies(
  argv: string[],
  o: {
    dir: string;
    proxies: Proxy[];
    log: Logger;
    env?: NodeJS.ProcessEnv;
    what: string;
    signal?: AbortSignal;
    onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
    redact?: string[];
  },
): Promise<RunResult> {
  const net = await privateNetwork();
  const launcherArgs = [
    launcherPath(),
    hostNamespace(),
    o.dir,
    ...net.launcher,
    ...o.proxies.flatMap((p) => ['--proxy', p.name, p.socket, String(p.port)]),
    '--',
    ...argv,
  ];
  o.log.info(
    { unshare: net.unshare, proxies: o.proxies.map((p) => `${p.name}=127.0.0.1:${p.port}`), program: argv[0] },
    `${o.what}: in a private network namespace`,
  );
  try {
    return await runProgram(['unshare', ...net.unshare, '--', 'bash', ...launcherArgs], {
      log: o.log,
      what: o.what,
      name: argv[0]!,
      ...(o.env ? { env: o.env } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onLine ? { onLine: o.onLine } : {}),
      ...(o.redact ? { redact: o.redact } : {}),
    });
  } finally {
    for (const p of o.proxies) {
      try {
        const text = readFileSync(path.join(o.dir, `${p.name}.log`), 'utf8').trim();
        if (text) o.log.debug({ server: p.name, stderr: text }, 'proxy stderr');
      } catch {
        // No log: the proxy never started.
      }
    }
  }
}
