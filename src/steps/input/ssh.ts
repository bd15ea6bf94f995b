// Files on another host over SSH (virt-v2v's `-it ssh`), read through
// nbdkit's ssh plugin (libssh, SFTP): one read-only nbdkit per remote file,
// for a disk as long as its overlay needs it (workers/step-worker.ts), for a
// small file (.vmx, vmdk descriptor) only while it is read (openRemote).
//
// Host keys are always verified (the plugin's verify-remote-host=true, never
// turned off) against the user's known_hosts, then /etc/ssh/ssh_known_hosts.
// libssh finds "~" in the password database and ignores $HOME; when $HOME
// says otherwise (a test, a service with its own home) we follow $HOME, as
// users expect: known-hosts= and the default identities in $HOME/.ssh.
// Authentication is libssh's: ssh-agent, those identities, and the password
// of -ip FILE (given to nbdkit as password=+FILE: the password itself is
// never on a command line).
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { AbortError, ConfigError, isAbortError, type EngineError } from '../../errors.js';
import { serverError, serverErrorSoon, startNbdkit, type Server } from '../../process/server.js';
import { hasControl, quote } from './vmx/fail.js';

export interface SshLocation {
  user?: string;
  /** A host name or address, IPv6 without brackets. */
  host: string;
  port?: number;
  /** Absolute, decoded. */
  path: string;
}

/** Parse `ssh://[user@]host[:port]/path` (path percent-encoded as in any URI). */
export function parseSshUri(uri: string): SshLocation {
  const bad = (why: string) => new ConfigError(`-it ssh: ${quote(uri)}: ${why}`);
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw bad('not a URI (expected ssh://[USER@]HOST[:PORT]/PATH)');
  }
  if (u.protocol !== 'ssh:') throw bad('not an ssh:// URI (expected ssh://[USER@]HOST[:PORT]/PATH)');
  // Not even in the message: the URI is shown without it.
  if (u.password !== '') throw new ConfigError('-it ssh: a password in the URI is not allowed: put it in a file and give -ip FILE');
  if (u.search !== '' || u.hash !== '') throw bad('a query or fragment is not allowed (write ? as %3F and # as %23 in a path)');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw bad('no host');
  let user: string | undefined;
  let file: string;
  try {
    user = u.username === '' ? undefined : decodeURIComponent(u.username);
    file = decodeURIComponent(u.pathname);
  } catch {
    throw bad('a bad %-escape');
  }
  if (file === '' || file === '/' || file.endsWith('/')) throw bad('no file name in the path');
  for (const [what, v] of [['user', user], ['host', host], ['path', file]] as const) {
    if (v !== undefined && (hasControl(v) || v.includes('\0'))) throw bad(`the ${what} holds a control character`);
  }
  const loc: SshLocation = { host, path: path.posix.normalize(file) };
  if (user !== undefined) loc.user = user;
  if (u.port !== '') loc.port = Number(u.port);
  return loc;
}

/** The URI of `loc` (another file on the same host: `{ ...loc, path }`). */
export function sshUri(loc: SshLocation): string {
  const user = loc.user === undefined ? '' : `${encodeURIComponent(loc.user)}@`;
  const host = loc.host.includes(':') ? `[${loc.host}]` : loc.host;
  const port = loc.port === undefined ? '' : `:${loc.port}`;
  return `ssh://${user}${host}${port}${loc.path.split('/').map(encodeURIComponent).join('/')}`;
}

/** libssh expands %-sequences in file names: keep a literal '%'. */
const literal = (file: string) => file.replace(/%/g, '%%');

/** Where libssh would look for ~/.ssh, and where $HOME says it is. */
function sshDirs(env: NodeJS.ProcessEnv): string | undefined {
  const home = env.HOME;
  if (!home || !path.isAbsolute(home)) return undefined;
  let passwdHome: string | undefined;
  try {
    passwdHome = userInfo().homedir;
  } catch {
    passwdHome = undefined;
  }
  return passwdHome !== undefined && path.resolve(passwdHome) === path.resolve(home) ? undefined : path.join(home, '.ssh');
}

/** nbdkit's arguments (plugin first) for the file at `loc`; nbdkit is run read-only. */
export function sshPluginArgs(loc: SshLocation, opts: { passwordFile?: string; env?: NodeJS.ProcessEnv } = {}): string[] {
  const args = ['ssh', `host=${loc.host}`];
  if (loc.port !== undefined) args.push(`port=${loc.port}`);
  if (loc.user !== undefined) args.push(`user=${loc.user}`);
  args.push(`path=${loc.path}`);
  const dotSsh = sshDirs(opts.env ?? process.env);
  if (dotSsh !== undefined) {
    args.push(`known-hosts=${literal(path.join(dotSsh, 'known_hosts'))}`);
    for (const key of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
      const f = path.join(dotSsh, key);
      if (existsSync(f)) args.push(`identity=${literal(f)}`);
    }
  }
  if (opts.passwordFile !== undefined) args.push(`password=+${path.resolve(opts.passwordFile)}`);
  return args;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

export interface RemoteFile {
  /** Bytes. */
  size: number;
  /** `length` bytes at `offset`, inside the file. */
  read(offset: number, length: number): Promise<Buffer>;
}

export interface OpenRemoteOptions {
  passwordFile?: string;
  log?: Logger;
  signal?: AbortSignal;
}

/**
 * Run `use` on the remote file at `loc`, served by a short-lived read-only
 * nbdkit on a Unix socket in a private temp dir; everything is stopped and
 * removed when `use` returns or throws. Failures to reach the file (no
 * connection, unknown host key, refused login, no such file) reject with
 * `fail(the plugin's words)`.
 */
export async function openRemote<T>(
  loc: SshLocation,
  opts: OpenRemoteOptions,
  fail: (why: string, cause?: unknown) => EngineError,
  use: (f: RemoteFile) => Promise<T>,
): Promise<T> {
  const { NbdHandle } = await import('../../nbd/handle.js');
  const tmp = await tmpDir({ prefix: 'v2v-ssh-', mode: 0o700, unsafeCleanup: true });
  let server: Server | undefined;
  let h: InstanceType<typeof NbdHandle> | undefined;
  // A cancel stops the server: a connect or read in progress then fails.
  const onAbort = () => void server?.stop(500);
  const failed = (err: unknown): Error => {
    if (opts.signal?.aborted) return new AbortError('input: cancelled');
    // The plugin's own words ("failed to connect to remote host: ...",
    // "all possible authentication methods failed", the unknown host key),
    // else libnbd's.
    return fail((server && serverError(server)) ?? firstLine(err), err);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      server = await startNbdkit(sshPluginArgs(loc, opts), {
        dir: tmp.path,
        name: 'ssh',
        readonly: true,
        ...(opts.log ? { log: opts.log } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (isAbortError(err) || opts.signal?.aborted) throw new AbortError('input: cancelled');
      throw fail(serverError({ stderrTail: () => (err as { stderrTail?: string }).stderrTail ?? '' }) ?? firstLine(err), err);
    }
    h = new NbdHandle('ssh', opts.log ? { log: opts.log } : {});
    try {
      // The plugin logs in when a client connects, not when nbdkit starts.
      await h.connect({ uri: server.uri });
    } catch (err) {
      await serverErrorSoon(server);
      throw failed(err);
    }
    const handle = h;
    const size = handle.size;
    return await use({
      size,
      read: async (offset, length) => {
        const buf = Buffer.alloc(length);
        if (length === 0) return buf;
        try {
          await handle.pread(buf, offset);
        } catch (err) {
          throw failed(err);
        }
        return buf;
      },
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // nbdkit 1.32 waits for its clients on SIGTERM: close ours first.
    h?.close();
    await server?.stop();
    await tmp.cleanup();
  }
}
