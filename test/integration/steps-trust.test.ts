// The step subcommands do not trust what they read (issue 9 §5): the work
// dir must be the user's own private dir; every path in output.json must be
// one setup made, inside -os; a pidfile is acted on only for the server the
// job started (pid, start time, socket); finalize renames only disks whose
// copy is recorded complete, and never while a copy runs; one step at a time
// holds the work dir's lock.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { makeRaw, processesUsing, run, sha256File } from '../helpers/fixtures.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { has, waitFor } from '../helpers/tools.js';
import { expectOk, gone, pairsOf, pidfiles, running, test, v2v } from '../helpers/workdirs.js';

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd');
const root = process.getuid?.() === 0;

/** `v2v input` of one disk into DIR, `convert --no-convert`, and (with OUT) `output setup -o local`. */
async function workDir(tmp: string, disk: string, out?: string, dir = path.join(tmp, 'wd')): Promise<{ dir: string; pair?: [string, string] }> {
  expectOk(await v2v('input', '-i', 'disk', disk, '--workdir', dir), 'input');
  expectOk(await v2v('convert', dir, '--no-convert'), 'convert');
  if (!out) return { dir };
  await mkdir(out, { recursive: true });
  const setup = await v2v('output', 'setup', dir, '-o', 'local', '-os', out, '-on', 'g');
  expectOk(setup, 'output setup');
  return { dir, pair: pairsOf(setup)[0]! };
}

const copyState = async (dir: string): Promise<string | undefined> =>
  readFile(path.join(dir, 'copy0.json'), 'utf8').then(
    (t) => (JSON.parse(t) as { state: string }).state,
    () => undefined,
  );

describe.skipIf(needs)('step subcommands check their records', () => {
  test.skipIf(!root)('a work dir owned by another user, not private, or named through a link: refused, nothing touched', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 16, 1);
    const { dir } = await workDir(tmp, a);
    const pids = await pidfiles(dir);
    const entries = (await readdir(dir)).sort();
    await chown(dir, 65534, 65534);
    expectOneError(await v2v('cleanup', dir), /owned by uid 65534, not by you/);
    expectOneError(await v2v('output', 'setup', dir, '-o', 'null'), /owned by uid 65534/);
    await chown(dir, 0, 0);
    await chmod(dir, 0o755);
    expectOneError(await v2v('cleanup', dir), /must be private \(mode 0700\), is 0755/);
    await chmod(dir, 0o700);
    await symlink(dir, path.join(tmp, 'link'));
    expectOneError(await v2v('cleanup', path.join(tmp, 'link')), /is a symbolic link/);
    expect((await readdir(dir)).sort()).toEqual(entries);
    expect(running(pids.in0!)).toBe(true);
    expectOk(await v2v('cleanup', dir), 'cleanup');
    expect(running(pids.in0!)).toBe(false);
  });

  test('output.json naming a file outside -os as a partial disk: cleanup, cleanup --stale and finalize refuse, the file survives', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 16, 2);
    const out = path.join(tmp, 'out');
    const parent = path.join(tmp, 'parent');
    await mkdir(parent);
    const { dir } = await workDir(tmp, a, out, path.join(parent, 'v2v-wd'));
    const precious = path.join(tmp, 'precious');
    await writeFile(precious, 'keep me\n');
    const file = path.join(dir, 'output.json');
    const good = await readFile(file, 'utf8');
    const forged = JSON.parse(good) as { disks: { partial: string }[] };
    forged.disks[0]!.partial = precious;
    await writeFile(file, JSON.stringify(forged));
    const pids = await pidfiles(dir);
    expectOneError(await v2v('cleanup', dir), /output\.json: refusing to act on it: disk 0's paths are not the names setup gives/);
    expectOneError(await v2v('output', 'finalize', dir), /output\.json: refusing to act on it/);
    // The same dir as a dead job's: cleanup --stale refuses it the same way and keeps it.
    const job = JSON.parse(await readFile(path.join(dir, 'job.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'job.json'), JSON.stringify({ ...job, owner: 'process', pid: 2 ** 22 - 1, start: '1' }));
    expectOneError(await v2v('cleanup', '--stale', '--parent', parent), `cleanup --stale: work dir ${dir} kept: `, /output\.json: refusing to act on it.*; 0 cleaned up$/);
    expect(await readFile(precious, 'utf8')).toBe('keep me\n');
    for (const [n, pid] of Object.entries(pids)) expect(running(pid), n).toBe(true);
    await writeFile(file, good);
    const stale = await v2v('cleanup', '--stale', '--parent', parent);
    expectOk(stale, 'cleanup --stale');
    expect(stale.stdout).toBe(`${dir}\n`);
    expect(await gone(dir)).toBe(true);
    expect(await readdir(out)).toEqual([]);
    expect(processesUsing(parent)).toEqual([]);
    expect(await readFile(precious, 'utf8')).toBe('keep me\n');
  });

  test('a pidfile holding the reused pid of an unrelated nbdkit: cleanup leaves that nbdkit running', async ({ tmp, nbdkit }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 16, 3);
    const { dir } = await workDir(tmp, a);
    const ours = (await pidfiles(dir)).in0!;
    // Our server dies; its pid goes to another nbdkit (here: its pid written in our pidfile).
    process.kill(ours, 'SIGKILL');
    await waitFor(() => !running(ours), 5000, 'our server to die');
    const other = await nbdkit(['memory', '1M'], { name: 'unrelated' });
    await writeFile(path.join(dir, 'in0.pid'), `${other.pid}\n`);
    expectOk(await v2v('cleanup', dir), 'cleanup');
    expect(await gone(dir)).toBe(true);
    expect(running(other.pid), 'the unrelated nbdkit').toBe(true);
  });

  test('finalize refuses an uncopied disk, a copy still running and a copy killed half-way; after a whole copy it finalizes', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await writeFile(a, randomBytes(48 * 1024 * 1024));
    const sum = await sha256File(a);
    const out = path.join(tmp, 'out');
    const { dir, pair } = await workDir(tmp, a, out);
    const [source, target] = pair!;
    const partial = ['.g-sda.v2v-partial'];
    expectOneError(await v2v('output', 'finalize', dir), /output finalize: disk sda has not been copied/);
    expect(await readdir(out)).toEqual(partial);

    // A slow copy (8 MiB/s): finalize while it runs.
    let copier = 0;
    const slow = runCli(['copy', source, target, '--target-is-zero', '--rate-limit', '8M'], { onSpawn: (pid) => (copier = pid) });
    await waitFor(async () => (await copyState(dir)) === 'running', 20_000, 'the copy to record that it runs');
    expectOneError(await v2v('output', 'finalize', dir), new RegExp(`disk sda is still being copied \\(pid ${copier}\\)`));
    expect(await readdir(out)).toEqual(partial);
    expect(JSON.parse(await readFile(path.join(dir, 'output.json'), 'utf8'))).toMatchObject({ state: 'setup' });

    // The copier dies half-way (kill -9): its record says running, its process is gone.
    process.kill(copier, 'SIGKILL');
    expect((await slow).signal).toBe('SIGKILL');
    expectOneError(await v2v('output', 'finalize', dir), new RegExp(`the copy of disk sda did not finish \\(its process ${copier} died\\)`));
    expect(await readdir(out)).toEqual(partial);

    // A whole copy, then finalize.
    expectOk(await v2v('copy', source, target, '--target-is-zero'), 'copy');
    expect(await copyState(dir)).toBe('done');
    expectOk(await v2v('output', 'finalize', dir), 'finalize');
    expect((await readdir(out)).sort()).toEqual(['g-sda', 'g.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'g-sda')]);
    expect(await sha256File(a)).toBe(sum);
    // A copy into a finalized output is refused.
    expectOneError(await v2v('copy', source, target), /finalized already|output/);
    expectOk(await v2v('cleanup', dir), 'cleanup');
  });

  test('two output setups on one work dir at once: one sets up, the other is refused; nothing leaks', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 64, 4);
    const { dir } = await workDir(tmp, a);
    const [o1, o2] = [path.join(tmp, 'o1'), path.join(tmp, 'o2')];
    await Promise.all([mkdir(o1), mkdir(o2)]);
    const rs = await Promise.all([v2v('output', 'setup', dir, '-o', 'local', '-os', o1), v2v('output', 'setup', dir, '-o', 'local', '-os', o2)]);
    const ok = rs.filter((r) => r.code === 0);
    expect(ok, rs.map((r) => r.stderr).join(' | ')).toHaveLength(1);
    const refused = rs.find((r) => r.code !== 0)!;
    expectOneError(refused, /is busy: v2v output setup \(pid \d+\) is running there|output setup has run here already/);
    const pids = await pidfiles(dir);
    expect(Object.keys(pids).sort()).toEqual(['in0', 'out0']);
    // Exactly one output's partial disk, in the winner's -os.
    const listed = [...(await readdir(o1)), ...(await readdir(o2))];
    expect(listed).toEqual(['.a-sda.v2v-partial']);
    expectOk(await v2v('cleanup', dir), 'cleanup');
    expect(processesUsing(tmp)).toEqual([]);
    expect([...(await readdir(o1)), ...(await readdir(o2))]).toEqual([]);
  });
});
