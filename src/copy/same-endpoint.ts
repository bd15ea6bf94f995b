// Refuse to copy a disk onto itself. nbdcopy does not check: `nbdcopy X X`
// truncates X before reading it, so the file ends up zeroed. Two names are
// the same file when they stat to the same device and inode (a symlink, a
// hard link, a relative path), or to the same block device; two NBD URIs are
// the same export when they reach the same server (the same Unix socket, by
// device and inode, or the same host and port) and name the same export.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { InputError } from '../errors.js';
import type { Endpoint } from './endpoint.js';

const NBD_PORT = '10809';

/** Where an NBD URI leads: the server's address and the export's name. */
export interface NbdAddress {
  transport: 'unix' | 'tcp' | 'vsock';
  /** The socket path (unix), or the host or CID. */
  server: string;
  port: string;
  exportName: string;
}

/** The address of an NBD URI as libnbd reads it; undefined if it cannot be parsed. */
export function nbdAddress(uri: string): NbdAddress | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  const m = /^nbds?(?:\+(unix|vsock|tcp))?:$/.exec(u.protocol);
  if (!m) return undefined;
  const transport = (m[1] ?? 'tcp') as NbdAddress['transport'];
  let exportName: string;
  try {
    exportName = decodeURIComponent(u.pathname.replace(/^\//, ''));
  } catch {
    return undefined;
  }
  if (transport === 'unix') {
    const socket = u.searchParams.get('socket');
    return socket ? { transport, server: path.resolve(socket), port: '', exportName } : undefined;
  }
  return { transport, server: u.hostname.toLowerCase(), port: u.port || NBD_PORT, exportName };
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

/** Same inode, or the same block device through two device nodes. */
function sameFile(a: Stats, b: Stats): boolean {
  if (a.dev === b.dev && a.ino === b.ino) return true;
  return a.isBlockDevice() && b.isBlockDevice() && a.rdev === b.rdev;
}

async function sameNbdExport(a: NbdAddress, b: NbdAddress): Promise<boolean> {
  if (a.transport !== b.transport || a.port !== b.port || a.exportName !== b.exportName) return false;
  if (a.server === b.server) return true;
  if (a.transport !== 'unix') return false;
  const [sa, sb] = await Promise.all([statOrUndefined(a.server), statOrUndefined(b.server)]);
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

const both = (a: string, b: string) => (a === b ? a : `${a} and ${b}`);

/** Throws an InputError when SOURCE and TARGET are the same file or the same NBD export. */
export async function checkNotSame(source: Endpoint, target: Endpoint): Promise<void> {
  if (source.kind === 'file' && target.kind === 'file') {
    const [s, t] = await Promise.all([statOrUndefined(source.path), statOrUndefined(target.path)]);
    if (s && t && sameFile(s, t)) {
      throw new InputError(`source and target are the same file (${both(source.path, target.path)})`);
    }
  } else if (source.kind === 'nbd-uri' && target.kind === 'nbd-uri') {
    const s = nbdAddress(source.uri);
    const t = nbdAddress(target.uri);
    if (s && t && (await sameNbdExport(s, t))) {
      throw new InputError(`source and target are the same NBD export (${both(source.uri, target.uri)})`);
    }
  }
}
