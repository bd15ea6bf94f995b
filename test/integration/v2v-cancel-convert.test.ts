// Ctrl-C while the guest is being converted (issue 3): the conversion's
// process group (virt-v2v-in-place, its libguestfs appliance, the inspector)
// is killed, the job ends within seconds with exit status 130 (128 + SIGINT), and nothing is
// left: no process working in the work dir, no work dir, no output, no
// libguestfs socket dir in /tmp (src/steps/convert/sockdir.ts). And kill -9
// of v2v itself at the same point: `v2v cleanup --stale` removes what the
// dead job left, the socket dir (recorded in the work dir) among it.
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File, processesUsing } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli, type CliResult } from '../helpers/cli.js';

interface Killed {
  r: CliResult;
  /** When the signal went. */
  sentAt: number;
  /** The libguestfs socket dirs on qemu's command line in convert.log. */
  sockDirs: string[];
  work: string;
  out: string;
  disk: string;
  before: string;
}

/** A job converting a 64 MiB disk, sent SIGNAL a second after its appliance's qemu started. */
async function killedInConversion(tmp: string, signal: NodeJS.Signals): Promise<Killed> {
  const work = path.join(tmp, 'work');
  const out = path.join(tmp, 'out');
  const logs = path.join(tmp, 'logs');
  await Promise.all([mkdir(work), mkdir(out)]);
  const disk = path.join(tmp, 'a.img');
  await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', '64M', 'seed=5', ']', disk]);
  const before = await sha256File(disk);
  let pid = 0;
  let sentAt = 0;
  const convertLog = path.join(logs, 'convert.log');
  const r = await runCli(['-i', 'disk', disk, '-o', 'local', '-os', out, '--machine-readable', '--log-dir', logs], {
    env: { TMPDIR: work, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' },
    onSpawn: (x) => (pid = x),
    onStdout: (chunk: string) => {
      if (!pid || !/"step.started","step":"convert"/.test(chunk)) return;
      const p = pid;
      pid = 0;
      // Once virt-v2v-in-place has started its appliance (qemu's command line in the log).
      const poll = setInterval(() => {
        readFile(convertLog, 'utf8').then(
          (text) => {
            if (sentAt || !text.includes('-chardev socket,path=')) return;
            clearInterval(poll);
            sentAt = Date.now();
            setTimeout(() => process.kill(p, signal), 1000);
          },
          () => undefined,
        );
      }, 200);
      setTimeout(() => clearInterval(poll), 120_000).unref();
    },
  });
  const log = await readFile(convertLog, 'utf8');
  const sockDirs = [...log.matchAll(/-chardev socket,path=([^\s,]+)\/guestfsd\.sock,/g)].map((m) => m[1]!);
  return { r, sentAt, sockDirs, work, out, disk, before };
}

async function gone(dirs: string[]): Promise<void> {
  for (const d of dirs) await expect(lstat(d), d).rejects.toThrow(/ENOENT/);
}

describe.skipIf(!has('virt-v2v-in-place') || !has('nbdkit'))('v2v: killed during the conversion', () => {
  test('SIGINT: exit 130 within seconds, conversion processes gone, nothing left', { timeout: 180_000 }, async ({ tmp }) => {
    const k = await killedInConversion(tmp, 'SIGINT');
    expect(k.sentAt).toBeGreaterThan(0);
    expect(Date.now() - k.sentAt).toBeLessThan(10_000);
    expect(k.r.code).toBe(130);
    expect(k.r.stderr).toMatch(/cancelled/);
    expect(await readdir(k.out)).toEqual([]);
    expect(await readdir(k.work)).toEqual([]);
    expect(processesUsing(k.work)).toEqual([]);
    expect(await sha256File(k.disk)).toBe(k.before);
    // The appliance had started (its socket dir is on qemu's command line): that dir is gone.
    expect(k.sockDirs.length).toBeGreaterThan(0);
    await gone(k.sockDirs);
  });

  test('kill -9 of v2v: cleanup --stale removes the work dir and the socket dir it recorded', { timeout: 180_000 }, async ({ tmp }) => {
    const k = await killedInConversion(tmp, 'SIGKILL');
    expect(k.r.signal).toBe('SIGKILL');
    expect(k.sockDirs.length).toBeGreaterThan(0);
    // What the dead job left: its work dir, with the socket dir recorded.
    const [dir] = await readdir(k.work);
    expect(dir).toMatch(/^v2v-/);
    expect((await readFile(path.join(k.work, dir!, 'libguestfs-sockdirs'), 'utf8')).trim().split('\n')).toEqual(k.sockDirs);
    for (const d of k.sockDirs) expect((await lstat(d)).isDirectory(), d).toBe(true);
    const c = await runCli(['cleanup', '--stale'], { env: { TMPDIR: k.work } });
    expect(c.code, c.stderr).toBe(0);
    expect(await readdir(k.work)).toEqual([]);
    expect(processesUsing(k.work)).toEqual([]);
    await gone(k.sockDirs);
    expect(await readdir(k.out)).toEqual([]);
    expect(await sha256File(k.disk)).toBe(k.before);
  });
});
