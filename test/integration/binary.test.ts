// The single-file binary (issue 12 §3): `npm run build:binary` writes one
// executable that runs where there is no Node.js and no node_modules. Built
// here into a temporary directory, copied alone into an empty one and run
// with a PATH that has every system command but node: --version, a copy
// with bytes compared, a --no-convert job. Also: the private directory it
// runs from is checked before use.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { expectOneError, repoRoot, runCli } from '../helpers/cli.js';
import { makeRaw, processesUsing, run, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const needs = !has('nbdkit') || !has('qemu-img') || !existsSync(path.join(repoRoot, 'build', 'Release', 'v2v_nbd.node'));

/** A bin directory with a link to every system command except Node.js's. */
function pathWithoutNode(dir: string): string {
  mkdirSync(dir);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (/^(node|nodejs|npm|npx|corepack)$/.test(name) || existsSync(path.join(dir, name))) continue;
      symlinkSync(path.join(d, name), path.join(dir, name));
    }
  }
  return dir;
}

describe.skipIf(needs)('the single-file binary (dist/v2v)', () => {
  let top: { path: string; cleanup: () => Promise<void> };
  let exe: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    top = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-binary-' });
    const built = path.join(top.path, 'built', 'v2v');
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-binary.mjs'), '--out', built], { cwd: repoRoot, stdio: 'pipe' });
    // Alone in an empty directory.
    const alone = path.join(top.path, 'alone');
    await mkdir(alone);
    exe = path.join(alone, 'v2v');
    copyFileSync(built, exe);
    await chmod(exe, 0o755);
    const runtime = path.join(top.path, 'runtime');
    await mkdir(runtime, { mode: 0o700 });
    env = { PATH: pathWithoutNode(path.join(top.path, 'bin')), XDG_RUNTIME_DIR: runtime, NODE_PATH: '', NODE_OPTIONS: '' };
  }, 180_000);
  afterAll(async () => {
    await top?.cleanup();
  });

  test('runs with no node on PATH: --version as the plain CLI prints it', async () => {
    expect(() => execFileSync('sh', ['-c', 'command -v node'], { env })).toThrow();
    const r = await runCli(['--version'], { command: exe, env });
    const plain = await runCli(['--version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stdout).toMatch(/^v2v \d+\.\d+\.\d+/);
    // Its files went into one private directory of ours under XDG_RUNTIME_DIR.
    const dirs = await readdir(env.XDG_RUNTIME_DIR!);
    expect(dirs).toHaveLength(1);
    const st = statSync(path.join(env.XDG_RUNTIME_DIR!, dirs[0]!));
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(process.getuid!());
  });

  test('v2v copy: the bytes arrive (the addon and the copy worker run from the binary)', async ({ tmp }) => {
    const src = path.join(tmp, 'src.img');
    const dst = path.join(tmp, 'dst.img');
    await makeRaw(src, 64, 3);
    const r = await runCli(['copy', src, dst], { command: exe, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });

  test('a --no-convert job: disk and XML written, source untouched, nothing left running', async ({ tmp }) => {
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    await mkdir(work);
    await mkdir(out);
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 32, 5);
    const before = await sha256File(a);
    const r = await runCli(['-i', 'disk', a, '-o', 'local', '-os', out, '-on', 'g', '--no-convert', '-q'], { command: exe, env: { ...env, TMPDIR: work } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['g-sda', 'g.xml']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', a, path.join(out, 'g-sda')]);
    expect(await sha256File(a)).toBe(before);
    expect(readFileSync(path.join(out, 'g.xml'), 'utf8')).toContain('<name>g</name>');
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });

  test("refuses to run from a directory that is not its user's private one", async ({ tmp }) => {
    const runtime = path.join(tmp, 'rt');
    await mkdir(runtime, { mode: 0o700 });
    const first = await runCli(['--version'], { command: exe, env: { ...env, XDG_RUNTIME_DIR: runtime } });
    expect(first.code).toBe(0);
    const [name] = await readdir(runtime);
    const dir = path.join(runtime, name!);
    // Opened up to others: refused, not used.
    await chmod(dir, 0o755);
    const r = await runCli(['--version'], { command: exe, env: { ...env, XDG_RUNTIME_DIR: runtime } });
    expectOneError(r, `refusing to run from ${dir}: it has mode 755, not 700`);
    // A link in its place: refused too.
    await rm(dir, { recursive: true });
    symlinkSync(tmp, dir);
    expectOneError(await runCli(['--version'], { command: exe, env: { ...env, XDG_RUNTIME_DIR: runtime } }), `refusing to run from ${dir}: it is a symbolic link`);
    // An incomplete one of ours (a start that died writing it) is written anew.
    await rm(dir);
    await mkdir(dir, { mode: 0o700 });
    const again = await runCli(['--version'], { command: exe, env: { ...env, XDG_RUNTIME_DIR: runtime } });
    expect(again.stdout).toBe(first.stdout);
    expect(existsSync(path.join(dir, 'bin', 'v2v.js'))).toBe(true);
  });
});
