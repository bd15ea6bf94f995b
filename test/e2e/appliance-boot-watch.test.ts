// The convert step's watchdog on the libguestfs appliance's boot
// (src/steps/convert/boot-watch.ts), on the sample guest, with a limit no
// appliance can meet (V2V_APPLIANCE_BOOT_TIMEOUT=1): the fast appliance is
// killed and the conversion run again with the standard one, which is
// killed too, and the job fails in one line naming the limit; nothing is
// left running (nor libguestfs's socket dirs), no output is left, the
// source is unchanged. No conversion
// runs: each attempt ends a second after qemu starts.
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, sha256File, processesUsing } from '../helpers/fixtures.js';
import { runCli, stderrLines, type CliResult } from '../helpers/cli.js';
import { noSampleGuest, sampleGuest, tcg } from '../helpers/guests.js';

/** Failed with one line on stderr naming WHAT (stdout has the job's progress messages up to the convert step). */
function failedWith(r: CliResult, what: string): void {
  expect(r.code, r.stderr).toBe(1);
  expect(stderrLines(r), r.stderr).toEqual([expect.stringMatching(/^v2v: error: /)]);
  expect(r.stderr).toContain(what);
}

interface LogLine {
  msg: string;
  stderr?: string;
}

describe.skipIf(noSampleGuest)('the appliance boot watchdog', () => {
  test('an appliance not up in time: killed, the standard one tried, then one line', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    const logs = path.join(tmp, 'logs');
    const work = path.join(tmp, 'work');
    await Promise.all([mkdir(out), mkdir(work)]);
    const before = await sha256File(sampleGuest);
    const env = { ...tcg, TMPDIR: work, V2V_APPLIANCE_BOOT_TIMEOUT: '1', V2V_FAST_APPLIANCE: '' };
    const r = await runCli(['-i', 'disk', sampleGuest, '-o', 'local', '-os', out, '-on', 'watched', '--log-dir', logs], { env });
    failedWith(r, 'convert: the libguestfs appliance did not come up within 1 s');

    const lines = (await readFile(path.join(logs, 'convert.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogLine);
    const msgs = lines.map((l) => l.msg);
    // Two attempts, each killed after qemu started; the second with the
    // standard appliance (the first used the fast one: libguestfs' own
    // appliance is in its cache once anything has launched it, as setup does).
    const qemuStarts = lines.filter((l) => /^\S*qemu-system-\S+ \\$/.test(l.stderr?.trim() ?? ''));
    expect(qemuStarts).toHaveLength(2);
    expect(msgs.filter((m) => m === 'libguestfs appliance did not come up: virt-v2v-in-place killed')).toHaveLength(2);
    expect(msgs).toContain('libguestfs appliance: fixed, kernel unpacked (PVH boot)');
    expect(msgs).toContain('libguestfs appliance: the fast one did not come up; converting again with the standard one');
    expect(lines.some((l) => l.stderr === 'libguestfs: appliance is up')).toBe(false);

    // Nothing left: no process, no output, the work dir gone, the source
    // unchanged, and neither attempt's libguestfs socket dir (in /tmp, which
    // a killed libguestfs does not remove: src/steps/convert/sockdir.ts).
    expect(processesUsing(work)).toEqual([]);
    const sockDirs = lines.flatMap((l) => /-chardev socket,path=(\S+)\/guestfsd\.sock,/.exec(l.stderr ?? '')?.[1] ?? []);
    expect(sockDirs).toHaveLength(2);
    for (const d of sockDirs) await expect(lstat(d), d).rejects.toThrow(/ENOENT/);
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect(await sha256File(sampleGuest)).toBe(before);
  }, 300_000);

  test('a limit that is not whole seconds is refused in one line', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const r = await runCli(['-i', 'disk', sampleGuest, '-o', 'local', '-os', out], {
      env: { ...tcg, TMPDIR: tmp, V2V_APPLIANCE_BOOT_TIMEOUT: '2.5' },
    });
    failedWith(r, 'V2V_APPLIANCE_BOOT_TIMEOUT: expected whole seconds >= 1, got "2.5"');
    expect(await readdir(out)).toEqual([]);
  }, 120_000);
});
