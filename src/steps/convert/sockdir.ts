// libguestfs's socket dir, left behind when virt-v2v-in-place is killed.
// libguestfs makes a dir for the appliance's Unix sockets with mkdtemp,
// /tmp/libguestfsXXXXXX for root whatever TMPDIR or XDG_RUNTIME_DIR say
// (its tmpdir, unlike this one, follows TMPDIR into our work dir), and
// removes it when its handle closes. A virt-v2v-in-place killed by a
// cancel or by the boot watch (boot-watch.ts), or orphaned by our own
// death, never closes its handle, so the dir stays. Its name is in the -v
// output, on qemu's command line ("-chardev
// socket,path=/tmp/libguestfsAbC123/guestfsd.sock,id=channel0"); it is
// recorded in the work dir at once (SOCKDIR_RECORD), so that `v2v cleanup`
// can remove it after a crash too. A dir so named is removed only if it
// is still what libguestfs made: a real dir (not a symlink) named
// libguestfsXXXXXX in /tmp or $XDG_RUNTIME_DIR, ours, not writable by
// others, holding nothing but sockets.
import { appendFileSync } from 'node:fs';
import { lstat, readdir, readFile, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** In the work dir: the socket dirs of this job's conversions, one per line. */
export const SOCKDIR_RECORD = 'libguestfs-sockdirs';

const SOCKET_ON_QEMU_LINE = /-chardev socket,path=((?:\/[^/\s,]+)*\/libguestfs[A-Za-z0-9]{6})\/[A-Za-z0-9_.-]+\.sock,/;
const NAME = /^libguestfs[A-Za-z0-9]{6}$/;

/** The socket dirs named in virt-v2v-in-place's output; removes the ones its death left. */
export class SocketDirs {
  private readonly dirs = new Set<string>();

  /** WORKDIR: where the names are recorded as they are seen. */
  constructor(private readonly workdir: string) {}

  /** Feed every line of virt-v2v-in-place's output. */
  line(text: string): void {
    const m = SOCKET_ON_QEMU_LINE.exec(text);
    if (!m) return;
    const dir = path.resolve(m[1]!);
    if (this.dirs.has(dir)) return;
    this.dirs.add(dir);
    try {
      appendFileSync(path.join(this.workdir, SOCKDIR_RECORD), `${dir}\n`, { mode: 0o600 });
    } catch {
      // Not recorded (the work dir is going): removeLeftovers still knows it.
    }
  }

  get named(): string[] {
    return [...this.dirs];
  }

  /** Call once the process group has ended. */
  removeLeftovers(log: Logger): Promise<void> {
    return removeAll([...this.dirs], log);
  }
}

/** The socket dirs recorded in work dir DIR that are still there, removed (`v2v cleanup`). */
export async function removeRecordedSocketDirs(dir: string, log: Logger): Promise<void> {
  const file = path.join(dir, SOCKDIR_RECORD);
  let text: string;
  try {
    const st = await lstat(file);
    if (!st.isFile() || st.uid !== process.getuid?.()) return log.warn({ file }, 'socket dir record: not a file of ours; ignored');
    text = await readFile(file, 'utf8');
  } catch {
    return; // none: no conversion reached qemu
  }
  const parents = new Set(['/tmp', process.env.XDG_RUNTIME_DIR].filter((p): p is string => !!p).map((p) => path.resolve(p)));
  const named = text.split('\n').filter(Boolean);
  const ok = named.filter((d) => path.isAbsolute(d) && NAME.test(path.basename(d)) && parents.has(path.dirname(d)) && path.resolve(d) === d);
  if (ok.length < named.length) log.warn({ file, refused: named.filter((d) => !ok.includes(d)) }, 'socket dir record: names outside /tmp/libguestfsXXXXXX; ignored');
  await removeAll(ok, log);
}

async function removeAll(dirs: string[], log: Logger): Promise<void> {
  for (const dir of dirs) {
    try {
      if (await removeIfSocketDir(dir)) log.info({ dir }, 'libguestfs socket dir left by a killed conversion: removed');
    } catch (err) {
      log.warn({ dir, err: (err as Error).message }, 'libguestfs socket dir left by a killed conversion: not removed');
    }
  }
}

/** True if DIR was there, checked and removed; false if it is gone (libguestfs removed it). */
async function removeIfSocketDir(dir: string): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error('not a directory');
  if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not ours`);
  if ((st.mode & 0o022) !== 0) throw new Error(`writable by others (mode ${(st.mode & 0o777).toString(8)})`);
  const names = await readdir(dir);
  for (const n of names) {
    if (!(await lstat(path.join(dir, n))).isSocket()) throw new Error(`holds ${n}, which is not a socket`);
  }
  for (const n of names) await unlink(path.join(dir, n));
  await rmdir(dir);
  return true;
}
