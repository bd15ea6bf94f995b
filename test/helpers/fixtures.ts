import { spawnSync } from 'node:child_process';
// Test fixtures with cleanup registered at creation: a private temp dir and
// nbdkit servers in it, stopped after each test; on failure their stderr is
// printed (nbdkit tests/test-nozero.sh does the same).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { test as base } from 'vitest';
import { dir as tmpDir } from 'tmp-promise';
import { startNbdkit, startQemuNbd, type Server } from '../../src/process/server.js';

export interface Fixtures {
  tmp: string;
  nbdkit: (args: string[], opts?: { readonly?: boolean; name?: string }) => Promise<Server>;
  qemuNbd: (
    file: string,
    opts?: { format?: string; imageOpts?: boolean; readonly?: boolean; snapshot?: boolean; bitmap?: string; allocationDepth?: boolean; name?: string },
  ) => Promise<Server>;
}

export const test = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  tmp: async ({}, use) => {
    const d = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-test-' });
    await use(d.path);
    await d.cleanup();
  },
  nbdkit: async ({ tmp, task }, use) => {
    const servers: Server[] = [];
    let n = 0;
    await use(async (args, opts = {}) => {
      const s = await startNbdkit(args, { dir: tmp, name: opts.name ?? `nbdkit${n++}`, ...(opts.readonly ? { readonly: true } : {}) });
      servers.push(s);
      return s;
    });
    if (task.result?.state === 'fail') {
      for (const s of servers) if (s.stderrTail()) console.error(`${s.command.join(' ')}:\n${s.stderrTail()}`);
    }
    await Promise.all(servers.map((s) => s.stop()));
  },
  qemuNbd: async ({ tmp }, use) => {
    const servers: Server[] = [];
    let n = 0;
    await use(async (file, opts = {}) => {
      const s = await startQemuNbd(file, { dir: tmp, name: opts.name ?? `qemu-nbd${n++}`, ...opts });
      servers.push(s);
      return s;
    });
    await Promise.all(servers.map((s) => s.stop()));
  },
});

export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Streamed, so disks of any size can be hashed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every byte an NBD server serves, read with nbdcopy (a peer, not our code). */
export async function readAll(uri: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const c = spawn('nbdcopy', [uri, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stdout.on('data', (d: Buffer) => chunks.push(d));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nbdcopy ${uri} -: ${err}`))));
  });
  return Buffer.concat(chunks);
}

/** Run a command to completion; reject with its stderr on failure. */
export function run(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err}`))));
    if (opts.input !== undefined) {
      c.stdin!.on('error', () => {}); // a child that exits early closes its stdin
      c.stdin!.end(opts.input);
    }
  });
}

/** A raw disk: SIZE MiB, 30 % data in runs, holes elsewhere (nbdkit sparse-random, seeded). */
export async function makeRaw(file: string, sizeMiB: number, seed: number): Promise<void> {
  await run(['nbdcopy', '--', '[', 'nbdkit', 'sparse-random', `${sizeMiB * 1024 * 1024}`, 'percent=30', `seed=${seed}`, ']', file]);
}

/** Two disks of a guest in TMP: a.img (raw, 16 MiB) and b.qcow2 (8 MiB, made from b.raw); the sha256 of each one's raw data. */
export async function rawAndQcow2(tmp: string): Promise<{ a: string; b: string; braw: string; sums: string[] }> {
  const a = path.join(tmp, 'a.img');
  const braw = path.join(tmp, 'b.raw');
  const b = path.join(tmp, 'b.qcow2');
  await makeRaw(a, 16, 1);
  await makeRaw(braw, 8, 2);
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', braw, b]);
  return { a, b, braw, sums: [await sha256File(a), await sha256File(braw)] };
}

/** Processes (not zombies) whose command line mentions DIR: our servers and conversions run in it. */
export function processesUsing(dir: string): string[] {
  const r = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo') && !/^\s*\d+\s+Z/.test(l));
}

/**
 * Stand-in OVMF files in DIR, for UEFI guests on a host without OVMF: the
 * environment that points v2v at them (src/steps/output/ovmf.ts), and the paths.
 */
export async function fakeOvmf(dir: string): Promise<{ env: { V2V_OVMF_PATHS: string }; code: string; vars: string }> {
  const code = `${dir}/OVMF_CODE.test.fd`;
  const vars = `${dir}/OVMF_VARS.test.fd`;
  await writeFile(code, 'code');
  await writeFile(vars, 'vars');
  return { env: { V2V_OVMF_PATHS: `${code},${vars}` }, code, vars };
}
