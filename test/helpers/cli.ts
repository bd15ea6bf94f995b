// Run the built `v2v` command as a user would (npm test builds it first).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const v2vBin = path.join(repoRoot, 'bin', 'v2v.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Contents written to extra fds (index 3, ...). */
  extra: string[];
}

export function runCli(
  args: string[],
  opts: {
    extraFds?: number;
    onSpawn?: (pid: number) => void;
    onStdout?: (chunk: string) => void;
    env?: NodeJS.ProcessEnv;
    /** Another `v2v` executable (the single-file binary) instead of `node bin/v2v.js`. */
    command?: string;
  } = {},
): Promise<CliResult> {
  const extraFds = opts.extraFds ?? 0;
  const stdio: ('pipe' | 'ignore')[] = ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(extraFds).fill('pipe')];
  return new Promise((resolve, reject) => {
    const [cmd, argv] = opts.command ? [opts.command, args] : [process.execPath, [v2vBin, ...args]];
    const c = spawn(cmd, argv, { stdio, env: { ...process.env, ...opts.env } });
    const out = { stdout: '', stderr: '', extra: Array<string>(extraFds).fill('') };
    c.stdout!.on('data', (d: Buffer) => {
      out.stdout += d.toString();
      opts.onStdout?.(d.toString());
    });
    c.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
    for (let i = 0; i < extraFds; i++) {
      (c.stdio[3 + i] as NodeJS.ReadableStream).on('data', (d: Buffer) => (out.extra[i] += d.toString()));
    }
    c.on('error', reject);
    c.on('spawn', () => opts.onSpawn?.(c.pid!));
    c.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
}

/** The non-empty lines a run wrote to stderr. */
export function stderrLines(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l.trim() !== '');
}

/**
 * What a run wrote to stderr other than warnings (`v2v: warning: ...`,
 * virt-v2v-in-place's own among them, as virt-v2v prints them): a good run has none.
 */
export function stderrBesidesWarnings(r: CliResult): string[] {
  return stderrLines(r).filter((l) => !l.startsWith('v2v: warning: '));
}

/** A refused run: exit 1, nothing on stdout, one "v2v: ..." line on stderr mentioning each of MENTIONS. */
export function expectOneError(r: CliResult, ...mentions: (string | RegExp)[]): string {
  expect(r.code, r.stderr).toBe(1);
  expect(r.signal).toBeNull();
  expect(r.stdout).toBe('');
  const lines = stderrLines(r);
  expect(lines, r.stderr).toHaveLength(1);
  const line = lines[0]!;
  expect(line).toMatch(/^v2v: \S/);
  for (const m of mentions) {
    if (typeof m === 'string') expect(line).toContain(m);
    else expect(line).toMatch(m);
  }
  return line;
}

/** The metadata.in that `--print-source --machine-readable` printed (its "source" event). */
export function sourceOf(r: CliResult): Record<string, unknown> {
  const line = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; source?: Record<string, unknown> })
    .find((e) => e.type === 'source');
  if (!line?.source) throw new Error(`no "source" event in: ${r.stdout.slice(0, 500)}`);
  return line.source;
}
