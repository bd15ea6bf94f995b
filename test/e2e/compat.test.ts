// Slow tier: virt-v2v 2.2.0's own test scripts against our CLI (issue 10),
// the CI subset of test/compat (`run.sh --ci`: all but the five Fedora
// conversions), one script at a time: vitest runs this file in a worker of
// its own beside the rest of the suite (test/sequencer.ts), which keeps the
// machine's other core busy (COMPAT_JOBS overrides). The whole list is
// `npm run compat`. The runner builds virt-v2v's phony test guests once
// into .cache/compat (kept between runs); each script runs as virt-v2v's
// `make check` would run it, with our CLI first on PATH as `virt-v2v`.
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import { has } from '../helpers/tools.js';

const needs = ['guestfish', 'virt-v2v-in-place', 'hivexregedit', 'sqlite3', 'virsh', 'nbdkit', 'qemu-img'].filter((c) => !has(c));
const runner = path.join(repoRoot, 'test', 'compat', 'run.sh');

function runCompat(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(runner, ['--ci', '--jobs', process.env.COMPAT_JOBS ?? '1'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out }));
  });
}

/** The scripts COMPAT_CI_SCRIPTS lists, as scripts.sh itself makes the list. */
function ciScripts(): string[] {
  const scripts = path.join(repoRoot, 'test', 'compat', 'scripts.sh');
  const out = execFileSync('bash', ['-c', '. "$1" && printf "%s\\n" "${COMPAT_CI_SCRIPTS[@]}"', 'bash', scripts], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe.skipIf(needs.length > 0)("virt-v2v's test scripts (CI subset)", () => {
  test('every script passes with our CLI as virt-v2v', { timeout: 55 * 60_000 }, async () => {
    const want = ciScripts();
    expect(want.length).toBe(34);
    const r = await runCompat();
    // The table, for the CI log: script | ours.
    console.log(r.out.split('\n').filter((l) => !l.startsWith('compat: build:')).join('\n'));
    const rows = new Map(
      r.out
        .split('\n')
        .map((l) => /^(\S+\.sh)\s+\|\s+(\S+)/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    const notPassed = want.filter((s) => rows.get(s) !== 'PASS').map((s) => `${s}: ${rows.get(s) ?? 'not run'} (log: .cache/compat/logs/${s}.ours.log)`);
    expect(notPassed).toEqual([]);
    expect(r.code).toBe(0);
  });
});
