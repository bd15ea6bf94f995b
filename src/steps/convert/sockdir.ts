// libguestfs's socket dir, left behind when virt-v2v-in-place is killed.
// libguestfs makes a dir for the appliance's Unix sockets with mkdtemp,
// /tmp/libguestfsXXXXXX for root whatever TMPDIR or XDG_RUNTIME_DIR say
// (its tmpdir, unlike this one, follows TMPDIR into our work dir), and
// removes it when its handle closes. A virt-v2v-in-place killed by a
// cancel or by the boot watch (boot-watch.ts) never closes its handle, so
// the dir stays. Its name is in the -v output, on qemu's command line
// ("-chardev socket,path=/tmp/libguestfsAbC123/guestfsd.sock,id=channel0");
// once the process group is gone, a dir so named is removed if it is still
// what libguestfs made: a real dir (not a symlink), ours, not writable by
// others, holding nothing but sockets.
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

const SOCKET_ON_QEMU_LINE = /-chardev socket,path=((?:\/[^/\s,]+)*\/libguestfs[A-Za-z0-9]{6})\/[A-Za-z0-9_.-]+\.sock,/;

/** The socket dirs named in virt-v2v-in-place's output; removes the ones its death left. */
export class SocketDirs {
  private readonly dirs = new Set<string>();

  /** Feed every line of virt-v2v-in-place's output. */
  line(text: string): void {
    const m = SOCKET_ON_QEMU_LINE.exec(text);
    if (m) this.dirs.add(path.resolve(m[1]!));
  }

  get named(): string[] {
    return [...this.dirs];
  }

  /** Call once the process group has ended. Removes each dir still there and still libguestfs's; logs the rest. */
  async removeLeftovers(log: Logger): Promise<void> {
    for (const dir of this.dirs) {
      try {
        if (await removeIfSocketDir(dir)) log.debug({ dir }, 'libguestfs socket dir left by a killed conversion: removed');
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'libguestfs socket dir left by a killed conversion: not removed');
      }
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
