// Bad input to `v2v copy`: each run exits 1 with exactly one line on stderr,
// "v2v: ...", naming the problem, and starts no copy. No servers needed.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneError, runCli } from '../helpers/cli.js';
import { readAll, sha256, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

describe('cli errors', () => {
  test('a missing source file: exit 1, one line naming the path', async ({ tmp }) => {
    const missing = path.join(tmp, 'no-such-disk.img');
    const out = path.join(tmp, 'out.img');
    const r = await runCli(['copy', missing, out]);
    expectOneError(r, `source ${missing}`, /no such file/i);
    expect(existsSync(out), 'no target is created for a bad source').toBe(false);
  });

  test('a target in a missing directory: exit 1, one line naming the target', async ({ tmp }) => {
    const src = path.join(tmp, 'disk.img');
    await writeFile(src, Buffer.alloc(65536, 1));
    const out = path.join(tmp, 'no-such-dir', 'out.img');
    expectOneError(await runCli(['copy', src, out]), `target ${out}`, 'does not exist');
  });

  it('null: as the source: exit 1, says null: can only be a target', async () => {
    expectOneError(await runCli(['copy', 'null:', 'null:']), 'source', 'null: can only be a target');
  });

  it('an unknown URI scheme (http://x): exit 1, names the URI and the scheme problem', async () => {
    expectOneError(await runCli(['copy', 'http://x', 'null:']), 'source', 'http://x', 'unsupported URI scheme');
    expectOneError(await runCli(['copy', '/dev/null', 'http://x']), 'target', 'http://x', 'unsupported URI scheme');
  });

  it('no operands: exit 1, one "v2v: " line about the missing operands', async () => {
    expectOneError(await runCli(['copy']), /missing required argument/);
  });

  it('one operand: exit 1, expected SOURCE and TARGET', async () => {
    expectOneError(await runCli(['copy', '/dev/null']), 'expected SOURCE and TARGET', 'got 1 operand');
  });

  it('three operands: exit 1, expected SOURCE and TARGET', async () => {
    expectOneError(await runCli(['copy', '/dev/null', 'null:', 'null:']), 'expected SOURCE and TARGET', 'got 3 operand');
  });

  it('an unterminated "[ CMD ..." group: exit 1, says "]" is missing', async () => {
    expectOneError(await runCli(['copy', '[', 'nbdkit', '--readonly', 'memory', '1M', 'null:']), 'unterminated');
  });

  test('--requests 0: exit 1, names requests', async ({ tmp }) => {
    const src = path.join(tmp, 'disk.img');
    await writeFile(src, Buffer.alloc(65536, 1));
    expectOneError(await runCli(['copy', '--requests', '0', src, 'null:']), /requests/, />=\s*1/);
  });

  test('--requests abc: exit 1, names --requests and the value', async ({ tmp }) => {
    const src = path.join(tmp, 'disk.img');
    await writeFile(src, Buffer.alloc(65536, 1));
    expectOneError(await runCli(['copy', '--requests', 'abc', src, 'null:']), '--requests', 'abc');
  });

  test('--request-size 3000: exit 1, names the request size and only it', async ({ tmp }) => {
    const src = path.join(tmp, 'disk.img');
    await writeFile(src, Buffer.alloc(65536, 1));
    const line = expectOneError(await runCli(['copy', '--request-size', '3000', src, 'null:']), 'requestSize', 'power of two');
    // Options the user did not set are not blamed for the bad one.
    expect(line).not.toMatch(/rangeSize|sparse/);
  });

  test('--memory-budget smaller than one request, or not a size: exit 1, names it', async ({ tmp }) => {
    const src = path.join(tmp, 'disk.img');
    await writeFile(src, Buffer.alloc(65536, 1));
    expectOneError(await runCli(['copy', '--memory-budget', '1M', '--request-size', '32M', src, 'null:']), 'memoryBudget', 'at least requestSize');
    expectOneError(await runCli(['copy', '--memory-budget', 'lots', src, 'null:']), '--memory-budget', 'lots');
  });

  it('an unknown option: exit 1, names it', async () => {
    expectOneError(await runCli(['copy', '--no-such-option', '/dev/null', 'null:']), '--no-such-option');
  });

  it('"-" as source or target (streaming): exit 1, says it is not supported', async () => {
    expectOneError(await runCli(['copy', '-', 'null:']), 'source', '"-"', 'not supported');
    expectOneError(await runCli(['copy', '/dev/null', '-']), 'target', '"-"', 'not supported');
  });

  test.skipIf(!has('nbdkit') || !has('nbdcopy'))(
    'options inside a "[ CMD ARGS ... ]" group are the command\'s, not v2v\'s: the copy succeeds, bytes equal',
    async ({ nbdkit, tmp }) => {
      const out = path.join(tmp, 'out.img');
      const group = ['[', 'nbdkit', '--readonly', '--filter=delay', 'pattern', '4M', 'delay-read=1ms', '-r', ']'];
      const r = await runCli(['copy', '-R', '4', ...group, out, '--stats']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^copied 4\.0 MiB/);
      const ref = await nbdkit(['pattern', '4M']);
      expect(await sha256File(out)).toBe(sha256(await readAll(ref.uri)));
    },
  );

  it('--help exits 0 and prints usage on stdout', async () => {
    const r = await runCli(['copy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: v2v copy/);
    expect(r.stdout).toContain('--progress');
    expect(r.stderr).toBe('');
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/copy/);
  });
});
