// virt-v2v's own test scripts as CI runs them: one group of test/compat's
// list (scripts.sh: main, fedora) through test/compat/run.sh, and its table
// read back. Used by test/e2e/compat.test.ts and compat-fedora.test.ts,
// which vitest runs beside the rest of the suite (test/sequencer.ts).
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from './cli.js';
import { has } from './tools.js';

export type CompatGroup = 'main' | 'fedora';

/** The tools the scripts and the build of their guests need, missing here. */
export const compatNeeds = ['guestfish', 'virt-v2v-in-place', 'hivexregedit', 'sqlite3', 'virsh', 'nbdkit', 'qemu-img'].filter((c) => !has(c));

/** The scripts of GROUP, as scripts.sh itself makes the list. */
export function compatScripts(group: CompatGroup): string[] {
  const scripts = path.join(repoRoot, 'test', 'compat', 'scripts.sh');
  const list = `COMPAT_${group.toUpperCase()}_SCRIPTS`;
  const out = execFileSync('bash', ['-c', `. "$1" && printf "%s\\n" "\${${list}[@]}"`, 'bash', scripts], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

function runGroup(group: CompatGroup): Promise<{ code: number | null; out: string }> {
  const runner = path.join(repoRoot, 'test', 'compat', 'run.sh');
  // One script at a time: the other vitest worker keeps the other core busy (COMPAT_JOBS overrides).
  const args = ['--group', group, '--jobs', process.env.COMPAT_JOBS ?? '1'];
  return new Promise((resolve, reject) => {
    const c = spawn(runner, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out }));
  });
}

/** Run GROUP (COUNT scripts): each must pass; the table goes to the CI log. */
export async function expectGroupPasses(group: CompatGroup, count: number): Promise<void> {
  const want = compatScripts(group);
  expect(want.length).toBe(count);
  const r = await runGroup(group);
  console.log(r.out.split('\n').filter((l) => !l.startsWith('compat: build:')).join('\n'));
  const rows = new Map(
    r.out
      .split('\n')
      .map((l) => /^(\S+\.sh)\s+\|\s+(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
  const notPassed = want.filter((s) => rows.get(s) !== 'PASS').map((s) => `${s}: ${rows.get(s) ?? 'not run'} (log: .cache/compat/logs/${s}.ours.log)`);
  expect(notPassed, r.out.slice(-3000)).toEqual([]);
  expect(r.code).toBe(0);
}
