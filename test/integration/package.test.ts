// The package as a user gets it: `npm pack` of this repo (as built by `npm
// test`), `npm install` of the tarball into a new ESM project (which builds
// the native addon there with node-gyp from binding.gyp), a strict
// TypeScript program type-checked against the shipped .d.ts, and Node
// programs that import 'v2v-engine' by name and run the installed `v2v`.
// Slow (the addon's compile): a couple of minutes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dir as tmpDir, type DirectoryResult } from 'tmp-promise';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256File } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { repoRoot } from '../helpers/cli.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a user's shell: without what `npm test` (npm run)
 * put there about this repo, which would point npm in the new project back
 * at it (local prefix, package fields, the empty allow-scripts of npm run).
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const fromNpmRun =
    /^(npm_package_|npm_lifecycle_|npm_command$|npm_execpath$|npm_node_execpath$|init_cwd$|npm_config_(local_prefix|global_prefix|prefix|user_agent|npm_version|node_gyp|allow_scripts)$)/i;
  for (const [k, v] of Object.entries(process.env)) if (!fromNpmRun.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function exec(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: userEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test: ${argv.join(' ')} still running after ${opts.timeoutMs} ms: killed]`;
      c.kill('SIGKILL');
    }, opts.timeoutMs ?? 300_000);
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run ARGV and expect exit status 0, showing its output otherwise. */
async function ok(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  const r = await exec(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} (in ${opts.cwd}): exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A raw disk of SIZE bytes (qemu-img create) with data written at a few places and holes elsewhere. */
async function makeDisk(file: string, size: number): Promise<void> {
  await ok(['qemu-img', 'create', '-q', '-f', 'raw', file, `${size}`], { cwd: path.dirname(file) });
  const fh = await open(file, 'r+');
  try {
    for (const [offset, len, byte] of [
      [0, 512, 0xeb],
      [1024 * 1024, 65536, 0x5a],
      [size - 4096, 4096, 0x01],
    ] as const) {
      const buf = Buffer.alloc(len, byte);
      for (let i = 0; i < len; i += 7) buf[i] = (i * 31 + offset) & 0xff;
      await fh.write(buf, 0, len, offset);
    }
  } finally {
    await fh.close();
  }
}

const TYPECHECK_TS = `
import { createEngine, optionsFromArgs, JobOptions, JobEvent } from 'v2v-engine';

const input: import('v2v-engine').JobOptionsInput = {
  input: { type: 'disk', files: ['disk.img'] },
  output: { type: 'local', storage: '/var/tmp/out' },
  noConvert: true,
};
const parsed: JobOptions = JobOptions.parse(input);
const fromArgs: JobOptions = optionsFromArgs(['-i', 'disk', 'disk.img', '-o', 'local', '-os', '/var/tmp/out', '--no-convert']);
const storage: string | undefined = fromArgs.output.storage;
const noConvert: boolean = parsed.noConvert;

function describeEvent(e: JobEvent): string {
  switch (e.type) {
    case 'copy.progress':
      return \`\${e.disk}: \${e.done}/\${e.total}\`;
    default:
      return e.type;
  }
}

export async function convertOne(signal: AbortSignal): Promise<string[]> {
  const engine = createEngine({ workParent: '/var/tmp' });
  try {
    const events: JobEvent[] = [];
    const result = await engine.convert(input, {
      signal,
      onEvent: (e) => {
        events.push(JobEvent.parse(e));
        console.log(describeEvent(e));
      },
    });
    const files: string[] = result.files;
    return files;
  } finally {
    await engine.close();
  }
}

// The types are real, not any: a wrong input must not type-check.
// @ts-expect-error: 'floppy' is no input type
const bad: import('v2v-engine').JobOptionsInput = { input: { type: 'floppy', files: [] } };
// @ts-expect-error: convert's options are checked too
export const wrong = () => createEngine().convert({ input: { type: 'disk', files: 'a.img' } });

export { storage, noConvert, bad };
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noEmit: true,
    // The shipped .d.ts are checked too: they must resolve with only the
    // package's dependencies installed.
    skipLibCheck: false,
  },
  files: ['check.ts'],
};

const CONVERT_MJS = `
import { createEngine, optionsFromArgs, JobEvent } from 'v2v-engine';

const [img, out, work] = process.argv.slice(2);
const engine = createEngine({ workParent: work });
const events = [];
try {
  const result = await engine.convert(optionsFromArgs(['-i', 'disk', img, '-o', 'local', '-os', out, '--no-convert']), {
    onEvent: (e) => events.push(JobEvent.parse(e).type),
  });
  console.log(JSON.stringify({ files: result.files, events }));
} finally {
  await engine.close();
}
`;

const needs = !has('npm') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdkit') || !has('pkg-config') || !has('make');

describe.skipIf(needs)('the npm package, installed in a new project', () => {
  let tmp: DirectoryResult;
  let project: string;
  let tarball: string;
  let packed: string[];
  let installed: Result;

  beforeAll(async () => {
    tmp = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-package-' });
    const packDir = path.join(tmp.path, 'pack');
    await mkdir(packDir);
    const pack = await ok(['npm', 'pack', '--json', '--pack-destination', packDir], { cwd: repoRoot, timeoutMs: 120_000 });
    const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(packDir, info[0]!.filename);
    packed = info[0]!.files.map((f) => f.path);

    project = path.join(tmp.path, 'project');
    await mkdir(project);
    // npm 11 asks a project to allow its dependencies' install scripts
    // (node-gyp rebuild, for the addon): a tarball by its file: spec, the
    // published package by name.
    await writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'v2v-user', version: '1.0.0', private: true, type: 'module', allowScripts: { 'v2v-engine': true, [`file:${tarball}`]: true } }, null, 2),
    );
    installed = await ok(['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', tarball, '@types/node@20'], {
      cwd: project,
      timeoutMs: 400_000,
    });
  }, 600_000);

  afterAll(async () => {
    await tmp?.cleanup();
  });

  test('the tarball holds the built library, the bundle, bin and the addon sources; no tests, bench or cache', () => {
    for (const f of ['package.json', 'bin/v2v.js', 'binding.gyp', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/bundle/cli.js', 'dist/bundle/copy-worker.js', 'dist/bundle/step-worker.js', 'dist/bundle/pool.js', 'native/addon.cc']) {
      expect(packed, f).toContain(f);
    }
    expect(packed.filter((f) => /^(test|bench|dist\/bench|dist\/test|\.cache|build|src|scripts)\//.test(f) || f.endsWith('.map'))).toEqual([]);
  });

  test('npm install built the native addon in the package', () => {
    expect(installed.stdout + installed.stderr).not.toMatch(/install scripts not yet covered/i);
    expect(existsSync(path.join(project, 'node_modules', 'v2v-engine', 'build', 'Release', 'v2v_nbd.node'))).toBe(true);
  });

  test('a strict TypeScript program type-checks against the shipped types', async () => {
    await writeFile(path.join(project, 'check.ts'), TYPECHECK_TS);
    await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    const tsc = path.join(repoRoot, 'node_modules', '.bin', 'tsc');
    const r = await exec([tsc, '-p', path.join(project, 'tsconfig.json')], { cwd: project, timeoutMs: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 150_000);

  test('a Node program imports v2v-engine by name and converts a disk (--no-convert)', async () => {
    const img = path.join(tmp.path, 'disk.img');
    const out = path.join(tmp.path, 'out');
    const work = path.join(tmp.path, 'work');
    await mkdir(out);
    await mkdir(work);
    await makeDisk(img, 16 * 1024 * 1024);
    const before = await sha256File(img);
    await writeFile(path.join(project, 'convert.mjs'), CONVERT_MJS);

    const r = await exec([process.execPath, 'convert.mjs', img, out, work], { cwd: project, timeoutMs: 180_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { files, events } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { files: string[]; events: string[] };

    expect((await readdir(out)).sort()).toEqual(['disk-sda', 'disk.xml']);
    expect(await sha256File(path.join(out, 'disk-sda'))).toBe(before);
    expect(await sha256File(img)).toBe(before);
    expect(await readFile(path.join(out, 'disk.xml'), 'utf8')).toContain('<name>disk</name>');
    expect(files.map((f) => path.basename(f)).sort()).toEqual(expect.arrayContaining(['disk-sda', 'disk.xml']));
    expect(events).toContain('step.finished');
    // The program exited by itself after close(), and left no work dir.
    expect(await readdir(work)).toEqual([]);
  }, 200_000);

  test('the installed v2v command runs (bundle, worker threads and addon)', async () => {
    const img = path.join(tmp.path, 'copy-src.img');
    const dst = path.join(tmp.path, 'copy-dst.img');
    await makeDisk(img, 4 * 1024 * 1024);
    const v2v = path.join(project, 'node_modules', '.bin', 'v2v');
    const r = await exec([v2v, 'copy', img, dst], { cwd: project, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await sha256File(dst)).toBe(await sha256File(img));
  }, 90_000);
});
