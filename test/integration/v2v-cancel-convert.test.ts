// Ctrl-C while the guest is being converted (issue 3): the conversion's
// process group (virt-v2v-in-place, its libguestfs appliance, the inspector)
// is killed, the job ends within seconds with exit status 130 (128 + SIGINT), and nothing is
// left: no process working in the work dir, no work dir, no output, no
// libguestfs socket dir in /tmp (src/steps/convert/sockdir.ts).
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File, processesUsing } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli } from '../helpers/cli.js';

describe.skipIf(!has('virt-v2v-in-place') || !has('nbdkit'))('v2v: SIGINT during the conversion', () => {
  test('exit 130 within seconds, conversion processes gone, nothing left', { timeout: 180_000 }, async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    const logs = path.join(tmp, 'logs');
    await mkdir(work);
    await mkdir(out);
    const a = path.join(tmp, 'a.img');
    await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', '64M', 'seed=5', ']', a]);
    const before = await sha256File(a);
    let pid = 0;
    let sentAt = 0;
    const r = await runCli(['-i', 'disk', a, '-o', 'local', '-os', out, '--machine-readable', '--log-dir', logs], {
      env: { TMPDIR: work, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' },
      onSpawn: (x) => (pid = x),
      onStdout: (chunk: string) => {
        if (pid && /"step.started","step":"convert"/.test(chunk)) {
          const p = pid;
          pid = 0;
          // Once virt-v2v-in-place has started its appliance (qemu's command line in the log).
          const poll = setInterval(() => {
            readFile(path.join(logs, 'convert.log'), 'utf8').then(
              (text) => {
                if (sentAt || !text.includes('-chardev socket,path=')) return;
                clearInterval(poll);
                sentAt = Date.now();
                setTimeout(() => process.kill(p, 'SIGINT'), 1000);
              },
              () => undefined,
            );
          }, 200);
          setTimeout(() => clearInterval(poll), 120_000).unref();
        }
      },
    });
    expect(sentAt).toBeGreaterThan(0);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/cancelled/);
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
    expect(await sha256File(a)).toBe(before);
    // The appliance had started (its socket dir is on qemu's command line in the log): that dir is gone.
    const log = await readFile(path.join(logs, 'convert.log'), 'utf8');
    const sockDirs = [...log.matchAll(/-chardev socket,path=([^\s,]+)\/guestfsd\.sock,/g)].map((m) => m[1]!);
    expect(sockDirs.length).toBeGreaterThan(0);
    for (const d of sockDirs) await expect(lstat(d), d).rejects.toThrow(/ENOENT/);
  });
});
