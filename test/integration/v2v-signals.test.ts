// Signals and a closed output (issue 9, section 3): SIGHUP (a dropped SSH
// session), SIGQUIT and SIGTERM cancel a job as SIGINT does, with exit
// status 128 + the signal's number; a closed stdout (`v2v ... | head -1`)
// ends the job as cancelled, without a stack trace; a second signal exits at
// once but still removes what the job had made. Each time: no server left,
// no work dir, no partial output. The source is an NBD disk served slowly
// by nbdkit's delay filter, named in a libvirt XML, so the copy is under way
// for tens of seconds when the signal comes.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { runCli, v2vBin } from '../helpers/cli.js';
import { processesUsing, test, type Fixtures } from '../helpers/fixtures.js';
import { nothingLeft, slowJob, type SlowJob } from '../helpers/slow-job.js';
import { has } from '../helpers/tools.js';

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd');

interface Setup extends SlowJob {
  /** The job: -i libvirtxml over the slow disk, -o local -of qcow2 (qemu-nbd serves the target). */
  args: string[];
}

async function slowV2v(tmp: string, nbdkit: Fixtures['nbdkit']): Promise<Setup> {
  const j = await slowJob(tmp, nbdkit);
  return { ...j, args: [...j.input, '-o', 'local', '-os', j.out, '-of', 'qcow2', '--no-convert', '--machine-readable'] };
}

const status = (sig: NodeJS.Signals) => 128 + osConstants.signals[sig];
const STACK = /^\s+at /m;

describe.skipIf(needs)('v2v: signals and a closed output', () => {
  test.for(['SIGHUP', 'SIGQUIT', 'SIGTERM'] as NodeJS.Signals[])(
    '%s during the copy: cancelled and cleaned up, exit status 128 + signal',
    async (sig, { tmp, nbdkit }) => {
      const s = await slowV2v(tmp, nbdkit);
      let pid = 0;
      let sentAt = 0;
      let running: string[] = [];
      const r = await runCli(s.args, {
        env: { TMPDIR: s.work },
        onSpawn: (x) => (pid = x),
        onStdout: (chunk) => {
          if (pid && chunk.includes('"copy.progress"')) {
            // Under way: the overlay's and the target's servers run in the work dir.
            running = processesUsing(s.work);
            sentAt = Date.now();
            process.kill(pid, sig);
            pid = 0;
          }
        },
      });
      expect(sentAt, 'the copy got under way').toBeGreaterThan(0);
      expect(running.some((l) => l.includes('qemu-nbd')), 'qemu-nbd served the target').toBe(true);
      expect(r.signal, `stderr: ${r.stderr}`).toBeNull();
      expect(r.code, `stderr: ${r.stderr}`).toBe(status(sig));
      expect(Date.now() - sentAt).toBeLessThan(15_000);
      expect(r.stderr).toContain(`v2v: ${sig}: cancelling`);
      expect(r.stderr).toMatch(/^v2v: copy: cancelled$/m);
      expect(r.stderr).not.toMatch(STACK);
      await nothingLeft(s);
    },
  );

  test('SIGHUP with stderr closed (the terminal is gone): nothing written, no crash, cleaned up', async ({ tmp, nbdkit }) => {
    const s = await slowV2v(tmp, nbdkit);
    const c = spawn(process.execPath, [v2vBin, ...s.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: s.work } });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.on('close', (code, signal) => resolve({ code, signal })));
    c.stderr.destroy();
    let sent = false;
    c.stdout.on('data', (d: Buffer) => {
      if (!sent && d.toString().includes('"copy.progress"')) {
        sent = true;
        c.kill('SIGHUP');
      }
    });
    const r = await exited;
    expect(sent, 'the copy got under way').toBe(true);
    expect(r).toEqual({ code: status('SIGHUP'), signal: null });
    await nothingLeft(s);
  });

  test('--machine-readable | head -1: the job ends cancelled, no stack trace, nothing left', async ({ tmp, nbdkit }) => {
    const s = await slowV2v(tmp, nbdkit);
    const c = spawn(process.execPath, [v2vBin, ...s.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: s.work } });
    let out = '';
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.on('close', (code, signal) => resolve({ code, signal })));
    // As head -1 does: read the first line, then close the pipe.
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) c.stdout.destroy();
    });
    const r = await exited;
    expect(JSON.parse(out.split('\n')[0]!)).toMatchObject({ type: 'message' });
    expect(err).not.toMatch(STACK);
    expect(err).not.toMatch(/EPIPE.*\n.*Error|Unhandled|node:internal/);
    expect(err).toMatch(/^v2v: stdout closed \(EPIPE\): cancelling/m);
    expect(err).toMatch(/^v2v: \S+: cancelled$/m);
    expect(r, `stderr: ${err}`).toEqual({ code: status('SIGPIPE'), signal: null });
    await nothingLeft(s);
  });

  test('two SIGINTs in a row: the second exits at once, yet servers, work dir and partial disk are gone', async ({ tmp, nbdkit }) => {
    const s = await slowV2v(tmp, nbdkit);
    let pid = 0;
    let partial: string[] = [];
    const r = await runCli(s.args, {
      env: { TMPDIR: s.work },
      onSpawn: (x) => (pid = x),
      onStdout: (chunk) => {
        if (pid && chunk.includes('"copy.progress"')) {
          const p = pid;
          pid = 0;
          // Read before the signals: the second one's fast cleanup may beat an async read.
          partial = readdirSync(s.out);
          process.kill(p, 'SIGINT');
          // Well before the first one's cleanup has ended.
          setTimeout(() => process.kill(p, 'SIGINT'), 20);
        }
      },
    });
    expect(partial, 'the partial disk existed').toEqual(['.slow-sda.v2v-partial']);
    expect(r.signal, `stderr: ${r.stderr}`).toBeNull();
    expect(r.code, `stderr: ${r.stderr}`).toBe(status('SIGINT'));
    expect(r.stderr).toMatch(/^v2v: SIGINT again: /m);
    expect(r.stderr).not.toMatch(STACK);
    await nothingLeft(s);
  });
});
