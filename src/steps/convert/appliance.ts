// A libguestfs appliance that boots faster (issue 12): libguestfs' own
// supermin appliance (CACHE/.guestfs-UID/appliance.d: kernel, initrd, root)
// with its kernel unpacked (vmlinux.ts), given to virt-v2v-in-place as a
// fixed appliance (LIBGUESTFS_PATH: README.fixed, kernel, initrd, root).
// qemu then boots the kernel through its PVH entry point instead of a
// bzImage that first decompresses itself: under TCG that cut an empty
// appliance launch from about 20 s to about 14 s here.
//
// It is libguestfs' appliance, unchanged but for the kernel's packing:
// initrd and root are hard links to its files (the same inodes, so the set
// stays consistent when supermin rebuilds: a rebuild makes new files, and a
// new key). Made under CACHE/v2v.appliance-UID, a private dir of ours, into
// a temporary dir renamed into place whole (two jobs racing both end with
// the same complete dir). Used only where it is safe to: x86-64, libguestfs'
// direct backend (libvirt's qemu runs as another user), no LIBGUESTFS_PATH
// of the user's, libguestfs' appliance present and not older than the
// package database (else libguestfs rebuilds it during this launch, and the
// next job makes the fast one from that). Anything unexpected: the standard
// appliance, and a log line saying why.
//
// On by default; V2V_FAST_APPLIANCE=0 turns it off. It was opt-in for a day:
// in one full test run (2026-12-03) a conversion (virt-v2v's
// test-v2v-windows-conversion.sh) hung until its 600 s timeout with it on,
// logs lost. Not seen again in 16 conversions with it on, 11 of them two at
// a time (2026-12-04); should an appliance not come up, the convert step's
// boot watchdog (boot-watch.ts) kills it and converts with the standard one.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { hasPvhEntry, KernelNotUnpackable, unpackKernel } from './vmlinux.js';

const FILES = ['kernel', 'initrd', 'root'] as const;
const PACKAGE_DBS = ['/var/lib/dpkg/status', '/var/lib/rpm/rpmdb.sqlite', '/var/lib/rpm/Packages'];
const KEEP_OLD_MS = 3600_000;

let backend: Promise<string> | undefined;
/** libguestfs' backend as it would choose it (LIBGUESTFS_BACKEND, else its built-in default). */
function libguestfsBackend(): Promise<string> {
  backend ??= promisify(execFile)('guestfish', ['get-backend'], { timeout: 30_000 }).then(
    (r) => r.stdout.trim(),
    () => 'unknown',
  );
  return backend;
}

/** The environment that makes virt-v2v-in-place boot the fast appliance, or {} for the standard one. */
export async function fastApplianceEnv(cacheRoot: string, log: Logger): Promise<Record<string, string>> {
  const skip = (why: string) => {
    log.info({ why }, 'libguestfs appliance: the standard one');
    return {};
  };
  if (process.env.V2V_FAST_APPLIANCE === '0') return skip('V2V_FAST_APPLIANCE=0');
  if (process.env.LIBGUESTFS_PATH) return skip('LIBGUESTFS_PATH is set');
  if (process.arch !== 'x64') return skip(`no PVH boot on ${process.arch}`);
  const b = await libguestfsBackend();
  if (b !== 'direct') return skip(`libguestfs backend ${b}, not direct`);
  try {
    const r = await fastAppliance(cacheRoot, log);
    if ('why' in r) return skip(r.why);
    log.info({ appliance: r.dir }, 'libguestfs appliance: fixed, kernel unpacked (PVH boot)');
    return { LIBGUESTFS_PATH: r.dir };
  } catch (err) {
    // An optimisation only: whatever failed, the standard appliance works.
    return skip(err instanceof KernelNotUnpackable ? `kernel: ${err.message}` : (err as Error).message);
  }
}

type Ids = { dev: number; ino: number; size: number }[];

async function sourceIds(src: string, uid: number): Promise<Ids | string> {
  const ids: Ids = [];
  for (const f of FILES) {
    const s = await lstat(path.join(src, f)).catch(() => undefined);
    if (!s) return `no libguestfs appliance in ${src} yet (libguestfs builds it now)`;
    if (!s.isFile() || s.uid !== uid) return `${path.join(src, f)} is not a file of ours`;
    ids.push({ dev: s.dev, ino: s.ino, size: s.size });
  }
  return ids;
}

/** Our private dir CACHE/v2v.appliance-UID: made 0700, else checked to be one (not a link, ours, no access for others). */
async function privateDir(dir: string, uid: number): Promise<string | undefined> {
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const s = await lstat(dir);
  if (!s.isDirectory() || s.uid !== uid || (s.mode & 0o077) !== 0) return `${dir} is not a private directory of ours`;
  return undefined;
}

/** The fixed appliance's dir, made if need be; or why the standard one is used. */
export async function fastAppliance(cacheRoot: string, log: Logger): Promise<{ dir: string } | { why: string }> {
  const uid = process.getuid!();
  const src = path.join(cacheRoot, `.guestfs-${uid}`, 'appliance.d');
  const ids = await sourceIds(src, uid);
  if (typeof ids === 'string') return { why: ids };
  const built = Math.min(...(await Promise.all(FILES.map(async (f) => (await stat(path.join(src, f))).mtimeMs))));
  for (const db of PACKAGE_DBS) {
    const s = await stat(db).catch(() => undefined);
    if (s && s.mtimeMs > built) return { why: `libguestfs' appliance is older than ${db} (libguestfs rebuilds it now)` };
  }
  const kernel = await readFile(path.join(src, 'kernel'));
  const key = createHash('sha256').update(kernel).update(JSON.stringify(ids)).digest('hex').slice(0, 16);
  const top = path.join(cacheRoot, `v2v.appliance-${uid}`);
  const notPrivate = await privateDir(top, uid);
  if (notPrivate) return { why: notPrivate };
  const dir = path.join(top, key);
  if (await complete(dir, ids, uid)) {
    const now = new Date();
    await utimes(dir, now, now); // in use: not removed as old (removeOld)
    return { dir };
  }
  const tmp = await mkdtemp(path.join(top, 'build-'));
  try {
    await link(path.join(src, 'initrd'), path.join(tmp, 'initrd'));
    await link(path.join(src, 'root'), path.join(tmp, 'root'));
    await unpackKernel(kernel, path.join(tmp, 'kernel'));
    await writeFile(path.join(tmp, 'README.fixed'), `libguestfs' appliance from ${src}, its kernel unpacked by v2v for PVH boot\n`, { mode: 0o644 });
    // Linked while supermin rebuilt? Then the set may be mixed: not used.
    if (JSON.stringify(await sourceIds(src, uid)) !== JSON.stringify(ids)) return { why: `libguestfs' appliance changed while it was read` };
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
    log.info({ appliance: dir, from: src }, 'libguestfs appliance: fixed appliance made');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await removeOld(top, key);
  return (await complete(dir, ids, uid)) ? { dir } : { why: `${dir} is incomplete` };
}

/** DIR is a whole fixed appliance of ours, its initrd and root the same files as libguestfs' (IDS). */
async function complete(dir: string, ids: Ids, uid: number): Promise<boolean> {
  const d = await lstat(dir).catch(() => undefined);
  if (!d?.isDirectory() || d.uid !== uid) return false;
  const got = await sourceIds(dir, uid);
  if (typeof got === 'string') return false;
  const same = (a: Ids[number], b: Ids[number]) => a.dev === b.dev && a.ino === b.ino;
  if (!same(got[1]!, ids[1]!) || !same(got[2]!, ids[2]!)) return false;
  return (await lstat(path.join(dir, 'README.fixed')).catch(() => undefined))?.isFile() === true && (await hasPvhEntry(path.join(dir, 'kernel')));
}

/** Other fixed appliances, unused for an hour (a job booting one has opened its files by then). */
async function removeOld(top: string, keep: string): Promise<void> {
  for (const name of await readdir(top)) {
    if (name === keep) continue;
    const p = path.join(top, name);
    const s = await lstat(p).catch(() => undefined);
    if (s && Date.now() - s.mtimeMs > KEEP_OLD_MS) await rm(p, { recursive: true, force: true });
  }
}
