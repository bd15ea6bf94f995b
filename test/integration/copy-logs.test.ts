// Logs are pino JSON lines: every line names its actor, step and disk; the
// worker's last line of a cancelled job still arrives.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { runCli } from '../helpers/cli.js';

async function lines(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(!has('nbdkit'))('copy logs', () => {
  test('CLI --log-file: JSON lines from the coordinator and the copy worker, step and disk on each', async ({ nbdkit, tmp }) => {
    const src = await nbdkit(['pattern', '4M'], { readonly: true });
    const log = path.join(tmp, 'copy.log');
    const r = await runCli(['--log-file', log, 'copy', src.uri, 'null:']);
    expect(r.code).toBe(0);
    const entries = await lines(log);
    expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['coordinator', 'copy']));
    for (const e of entries) {
      expect(e.step).toBe('copy');
      expect(e.disk).toBe('disk');
      expect(typeof e.jobId).toBe('string');
    }
    const finished = entries.find((e) => e.msg === 'copy finished');
    expect((finished?.stats as { size: number }).size).toBe(4 * 1024 * 1024);
  });

  test('a cancelled job still logs its end, with the error serialised', async ({ nbdkit, tmp }) => {
    const src = await nbdkit(['--filter=delay', 'pattern', '64M', 'delay-read=50ms'], { readonly: true });
    const log = path.join(tmp, 'cancel.log');
    const ac = new AbortController();
    const p = copy({ source: src.uri, target: 'null:', log: { level: 'info', file: log }, signal: ac.signal, disk: 'sdb' });
    setTimeout(() => ac.abort(), 300);
    await expect(p).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const entries = await lines(log);
    const last = entries.filter((e) => e.actor === 'copy').at(-1)!;
    expect(last.msg).toBe('copy failed');
    expect(last.disk).toBe('sdb');
    expect((last.err as { code: string }).code).toBe('ABORT_ERR');
  });
});
