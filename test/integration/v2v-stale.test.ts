// When `v2v` itself dies (kill -9, the OOM killer; issue 9, section 4): the
// work dir records the job (job.json: pid and start time, command line), so a
// later run says there are stale work dirs of dead jobs, and `v2v cleanup
// --stale` stops their servers (qemu-nbd does not die with its parent),
// removes their partial disks and their dirs. It touches nothing else: not a
// live job, not a dir handed to a supervisor by `v2v input`, not a dir that
// is not private or not marked, not a process that is not the dir's server.
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { processesUsing, run, test } from '../helpers/fixtures.js';
import { alive, has } from '../helpers/tools.js';
import { slowJob } from '../helpers/slow-job.js';

const MiB = 1024 * 1024;
const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy');

const warning = (n: number, parent: string) =>
  `v2v: warning: ${n === 1 ? '1 stale work dir of a dead job' : `${n} stale work dirs of dead jobs`} under ${parent}: run 'v2v cleanup --stale'`;

/** This process's start time, /proc/self/stat field 22. */
function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** A work dir as a job makes it, with a job record of PID started at START. */
async function fakeWorkDir(parent: string, name: string, rec: { pid: number; start: string; owner?: string }, mode = 0o700, marker = true): Promise<string> {
  const dir = path.join(parent, name);
  await mkdir(dir, { mode });
  await chmod(dir, mode);
  if (marker) await writeFile(path.join(dir, '.v2v-workdir'), '{"version":1}\n', { mode: 0o600 });
  const record = {
    version: 1,
    kind: 'v2v-job',
    owner: rec.owner ?? 'process',
    pid: rec.pid,
    start: rec.start,
    boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    host: os.hostname(),
    argv: ['node', 'v2v'],
    cwd: '/',
    created: new Date().toISOString(),
  };
  await writeFile(path.join(dir, 'job.json'), JSON.stringify(record), { mode: 0o600 });
  return dir;
}

describe.skipIf(needs)('v2v cleanup --stale', () => {
  test('kill -9 during the copy of a qcow2 guest: warned about, cleaned up by cleanup --stale, then the job reruns', { timeout: 120_000 }, async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    await mkdir(work);
    await mkdir(out);
    const raw = path.join(tmp, 'guest.raw');
    const guest = path.join(tmp, 'guest.qcow2');
    // Dense data, so the copy lasts long enough to be killed in.
    await run(['nbdcopy', '--', '[', 'nbdkit', 'random', `${256 * MiB}`, ']', raw]);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, guest]);
    const env = { TMPDIR: work };
    const job = ['-i', 'disk', guest, '-o', 'local', '-os', out, '-of', 'qcow2', '--no-convert'];

    let pid = 0;
    let jobPid = 0;
    const killed = await runCli([...job, '--machine-readable'], {
      env,
      onSpawn: (x) => (pid = jobPid = x),
      onStdout: (chunk) => {
        if (pid && chunk.includes('"copy.progress"')) {
          process.kill(pid, 'SIGKILL');
          pid = 0;
        }
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    // What a dead job leaves: qemu-nbd over the source and over the target,
    // the partial disk, the work dir (and its private log dir).
    const left = processesUsing(work);
    expect(left.filter((l) => l.includes('qemu-nbd'))).toHaveLength(2);
    expect(await readdir(out)).toEqual(['.guest-sda.v2v-partial']);
    const dirs = (await readdir(work)).sort();
    expect(dirs.filter((d) => !d.startsWith('v2v-log-'))).toHaveLength(1);
    const wd = path.join(work, dirs.find((d) => !d.startsWith('v2v-log-'))!);
    const record = JSON.parse(readFileSync(path.join(wd, 'job.json'), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ kind: 'v2v-job', owner: 'process', pid: jobPid });
    expect(record.argv).toEqual(expect.arrayContaining(job));
    expect(record.start).toMatch(/^\d+$/);

    // A run that finds it says so, once, on stderr, and goes on.
    const before = await runCli(['-i', 'disk', guest, '--print-source'], { env });
    expect(before.code).toBe(0);
    expect(before.stderr).toBe(`${warning(1, work)}\n`);
    expect(before.stdout).toContain('source name: guest');

    const clean = await runCli(['cleanup', '--stale'], { env });
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    expect(clean.stdout).toBe(`${wd}\n`);
    expect(processesUsing(work)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    expect(await readdir(out)).toEqual([]);

    const after = await runCli(['-i', 'disk', guest, '--print-source'], { env });
    expect(after.code).toBe(0);
    expect(after.stderr).toBe('');

    // The same job again: it would have refused the partial disk; now it runs.
    const again = await runCli([...job, '-q'], { env });
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['guest-sda', 'guest.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', raw, path.join(out, 'guest-sda')]);
    expect(await readdir(work)).toEqual([]);
  });

  test('leaves alone what is not a dead job: a live job, a dir handed to a supervisor, a dir not private or not marked, a process not its server', { timeout: 120_000 }, async ({ tmp, nbdkit }) => {
    // A live job, copying from a slow source.
    const { work, out, input } = await slowJob(tmp, nbdkit);
    const xml = input[2]!;
    const env = { TMPDIR: work };
    // A dir `v2v input` handed over (the process that made it has exited).
    const a = path.join(tmp, 'a.img');
    await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', '16M', 'seed=3', ']', a]);
    const inp = await runCli(['input', '-i', 'disk', a], { env });
    expect(inp.code, inp.stderr).toBe(0);
    const handed = inp.stdout.trim();
    // Dirs whose recorded process is dead, but which are not ours to judge.
    const dead = { pid: 2 ** 22 - 1, start: '1' }; // pid_max is at most 2^22: no such process
    const open = await fakeWorkDir(work, 'v2v-open', dead, 0o755);
    const unmarked = await fakeWorkDir(work, 'v2v-unmarked', dead, 0o700, false);
    const supervised = await fakeWorkDir(work, 'v2v-supervised', { ...dead, owner: 'supervisor' });
    // This test process is alive, but not with the start time recorded: a
    // recycled pid. Its pidfile names this test process, which is no server
    // of the dir: the dir goes, this process stays.
    const recycled = await fakeWorkDir(work, 'v2v-recycled', { pid: process.pid, start: String(Number(startOf(process.pid)) + 1) });
    await writeFile(path.join(recycled, 'in0.pid'), `${process.pid}\n`);
    // A dir of a live process with its own start time: not stale.
    const live = await fakeWorkDir(work, 'v2v-live', { pid: process.pid, start: startOf(process.pid) });

    let pid = 0;
    let during: Awaited<ReturnType<typeof runCli>> | undefined;
    let jobDir = '';
    let jobDirKept = false;
    const r = await runCli(['-i', 'libvirtxml', xml, '-o', 'local', '-os', out, '--no-convert', '--machine-readable'], {
      env,
      onSpawn: (x) => (pid = x),
      onStdout: (chunk) => {
        if (pid && chunk.includes('"copy.progress"')) {
          const p = pid;
          pid = 0;
          void (async () => {
            const known = new Set([handed, open, unmarked, supervised, recycled, live].map((d) => path.basename(d)));
            jobDir = path.join(work, (await readdir(work)).find((d) => d.startsWith('v2v-') && !d.startsWith('v2v-log-') && !known.has(d))!);
            during = await runCli(['cleanup', '--stale', '--parent', work]);
            jobDirKept = existsSync(path.join(jobDir, 'job.json')) && processesUsing(jobDir).length > 0;
            process.kill(p, 'SIGINT');
          })();
        }
      },
    });
    // The live job was warned about the one stale dir, then left running by cleanup --stale.
    expect(r.stderr.split('\n')[0]).toBe(warning(1, work));
    expect(r.code, r.stderr).toBe(130);
    expect(during?.code, during?.stderr).toBe(0);
    expect(during?.stdout).toBe(`${recycled}\n`);
    expect(jobDirKept, 'the live job kept its work dir and servers').toBe(true);
    expect(alive(process.pid)).toBe(true);
    expect((await readdir(work)).sort()).toEqual([handed, live, open, supervised, unmarked].map((d) => path.basename(d)).sort());
    expect(await readdir(out)).toEqual([]);

    // The handed-over dir is its supervisor's: v2v cleanup DIR removes it.
    const cleanHanded = await runCli(['cleanup', handed], { env });
    expect(cleanHanded.code, cleanHanded.stderr).toBe(0);
    expect(processesUsing(work)).toEqual([]);

    const bad = await runCli(['cleanup', '--stale', '--parent', path.join(tmp, 'nope')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^v2v: error: cleanup --stale: parent \S+nope: not a directory\n$/);
    const extra = await runCli(['cleanup', '--stale', handed]);
    expect(extra.code).toBe(1);
    expect(extra.stderr.trim().split('\n')).toHaveLength(1);
  });
});
