// Names and paths that cannot be what the user meant are refused before
// anything starts, in one line, nothing written, no work dir left:
// - a -on whose output file names (.NAME-sdzz.v2v-partial, the longest)
//   would not fit NAME_MAX, which failed only at output setup, after the
//   conversion;
// - an argument that is not UTF-8: Node hands it over with U+FFFD for the
//   bad bytes, so we would have written (or read) a file of another name;
// - a guest name in a source file that decodes to U+FFFD.
// Node's spawn takes strings, so the bad bytes go through sh's printf.
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { expectOneError, runCli, v2vBin, type CliResult } from '../helpers/cli.js';
import { test } from '../helpers/fixtures.js';

/** `v2v ARGS` through sh, where ARGS is shell text (printf '\377' makes a byte that is not UTF-8). */
function v2vSh(args: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', `exec "$0" "$1" ${args}`, process.execPath, v2vBin], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, signal: null, stdout, stderr, extra: [] });
    });
  });
}

/** A 1 MiB disk (content never read: every run here is refused first), an empty -os and an empty $TMPDIR. */
async function setup(tmp: string): Promise<{ disk: string; out: string; work: string }> {
  const disk = path.join(tmp, 'g.img');
  await writeFile(disk, Buffer.alloc(1024 * 1024));
  const out = path.join(tmp, 'out');
  const work = path.join(tmp, 'work');
  await mkdir(out);
  await mkdir(work);
  return { disk, out, work };
}

async function expectNothingLeft(out: string, work: string): Promise<void> {
  expect(await readdir(out), 'nothing in -os').toEqual([]);
  expect(await readdir(work), 'no work dir left').toEqual([]);
}

describe('names and paths refused before anything starts', () => {
  test('-on of 250 characters: exit 1 at once, one line naming -on and the limit', async ({ tmp }) => {
    const { disk, out, work } = await setup(tmp);
    const t0 = Date.now();
    const r = await runCli(['-i', 'disk', disk, '-o', 'local', '-os', out, '-on', 'n'.repeat(250)], { env: { TMPDIR: work } });
    expectOneError(r, '-on', 'at most 237 bytes', '255 bytes');
    expect(r.stderr).not.toMatch(/convert/i);
    expect(Date.now() - t0, 'refused before any step').toBeLessThan(10_000);
    await expectNothingLeft(out, work);
    // Bytes count, not characters: 119 "é" are 238 bytes.
    expectOneError(await runCli(['-i', 'disk', disk, '-o', 'qemu', '-os', out, '-on', 'é'.repeat(119)], { env: { TMPDIR: work } }), '238 bytes');
    await expectNothingLeft(out, work);
  });

  test('a -on that is not UTF-8: exit 1, one line naming the argument', async ({ tmp }) => {
    const { disk, out, work } = await setup(tmp);
    const r = await v2vSh(`-i disk '${disk}' -o local -os '${out}' -on "$(printf 'a\\377b')"`, { TMPDIR: work });
    expectOneError(r, 'argument 9 (after -on) is not valid UTF-8', '"a\\ufffdb"');
    await expectNothingLeft(out, work);
  });

  test('an -os or disk path that is not UTF-8: exit 1, one line; so for every subcommand', async ({ tmp }) => {
    const { disk, out, work } = await setup(tmp);
    expectOneError(await v2vSh(`-i disk '${disk}' -o local -os "$(printf '${out}/\\351')"`, { TMPDIR: work }), 'argument 7 (after -os)', '\\ufffd');
    expectOneError(await v2vSh(`-i disk "$(printf '${tmp}/g\\377.img')" -o null`, { TMPDIR: work }), 'argument 3 is not valid UTF-8', 'g\\ufffd.img');
    expectOneError(await v2vSh(`copy "$(printf '${tmp}/g\\377.img')" null:`), 'argument 2 is not valid UTF-8');
    await expectNothingLeft(out, work);
  });

  test('a guest name in the source file that decodes to U+FFFD: exit 1, one line naming the file', async ({ tmp }) => {
    const { disk, out, work } = await setup(tmp);
    const xml = path.join(tmp, 'g.xml');
    await writeFile(
      xml,
      `<domain type='kvm'><name>g&#xFFFD;</name><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>` +
        `<source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
    );
    const r = await runCli(['-i', 'libvirtxml', xml, '-o', 'local', '-os', out], { env: { TMPDIR: work } });
    expectOneError(r, xml, '<name> "g\\ufffd"', 'not valid UTF-8');
    await expectNothingLeft(out, work);
  });
});
