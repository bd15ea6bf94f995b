// --root and --key reach the conversion (virt-v2v-in-place) and, for --key,
// the inspection (virt-inspector, which must open the same LUKS devices),
// while a passphrase given on the command line reaches them only as a file
// of the private work dir: never an argument of theirs, never a log line,
// never job.json's record of our own command line. Stand-ins for the two
// programs (first on PATH) record what they were given; the rest of the job
// is real (-i disk, the private network namespace, -o null).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeRaw, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const INSPECTED = `<?xml version="1.0"?>
<operatingsystems>
  <operatingsystem><root>/dev/sda1</root><name>linux</name><distro>fedora</distro><major_version>36</major_version><arch>x86_64</arch></operatingsystem>
  <operatingsystem><root>/dev/sda2</root><name>linux</name><distro>debian</distro><major_version>12</major_version><arch>x86_64</arch></operatingsystem>
</operatingsystems>
`;

/** Stand-ins for virt-v2v-in-place and virt-inspector in BIN, recording into REC: their arguments, the key files' contents, job.json. */
async function standIns(bin: string, rec: string): Promise<void> {
  await mkdir(bin);
  await mkdir(rec);
  const keys = `for a in "$@"; do case "$a" in *:file:*) f="\${a#*:file:}"; cat "$f" > "${rec}/$1-key-$(basename "$f")"; stat -c %a "$f" > "${rec}/$1-mode-$(basename "$f")";; esac; done`;
  await writeFile(
    path.join(bin, 'virt-v2v-in-place'),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${rec}/v2v-argv"\nset -- v2v "$@"\n${keys}\ncp "$TMPDIR/job.json" "${rec}/job.json"\necho 'This guest has virtio drivers installed.'\n`,
  );
  await writeFile(
    path.join(bin, 'virt-inspector'),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${rec}/inspector-argv"\nset -- inspector "$@"\n${keys}\ncat <<'EOF'\n${INSPECTED}EOF\n`,
  );
  await chmod(path.join(bin, 'virt-v2v-in-place'), 0o755);
  await chmod(path.join(bin, 'virt-inspector'), 0o755);
}

/** Every file under DIR, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('nbdcopy') || !has('unshare') || process.getuid?.() !== 0;

describe.skipIf(needs)('--root and --key reach virt-v2v-in-place; a passphrase only as a file', () => {
  test('-i disk ... --root /dev/sda2 --key ID:key:KEY --key ID:file:FILE -o null', { timeout: 120_000 }, async ({ tmp }) => {
    const bin = path.join(tmp, 'bin');
    const rec = path.join(tmp, 'rec');
    const work = path.join(tmp, 'work');
    const logs = path.join(tmp, 'logs');
    await standIns(bin, rec);
    await mkdir(work);
    const disk = path.join(tmp, 'guest.img');
    await makeRaw(disk, 4, 7);
    const keyFile = path.join(tmp, 'lv.key');
    await writeFile(keyFile, 'from-a-file\n');
    const secret = 'Sekr1t passphrase, not for logs';
    const r = await runCli(
      ['-i', 'disk', disk, '-o', 'null', '--root', '/dev/sda2', '--key', `/dev/sda2:key:${secret}`, `--key=/dev/VG/LV:file:${keyFile}`, '--log-dir', logs],
      { env: { TMPDIR: work, PATH: `${bin}:${process.env.PATH}` } },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);

    // virt-v2v-in-place: --root as given, each key as a file.
    const argv = readFileSync(path.join(rec, 'v2v-argv'), 'utf8').trim().split('\n');
    const keyArg = argv.find((a) => a.startsWith('/dev/sda2:file:'))!;
    const written = keyArg.slice('/dev/sda2:file:'.length);
    expect(argv.slice(0, 6)).toEqual(['--root', '/dev/sda2', '--key', keyArg, '--key', `/dev/VG/LV:file:${keyFile}`]);
    expect(argv.slice(6, 8)).toEqual(['-i', 'libvirtxml']);
    expect(path.dirname(written).startsWith(work)).toBe(true);
    expect(readFileSync(path.join(rec, `v2v-key-${path.basename(written)}`), 'utf8')).toBe(secret);
    expect(readFileSync(path.join(rec, `v2v-mode-${path.basename(written)}`), 'utf8').trim()).toBe('600');
    expect(readFileSync(path.join(rec, 'v2v-key-lv.key'), 'utf8')).toBe('from-a-file\n');
    // virt-inspector: the same keys (not --root, which it does not take).
    const insp = readFileSync(path.join(rec, 'inspector-argv'), 'utf8').trim().split('\n');
    expect(insp).toEqual(expect.arrayContaining(['--key', keyArg, `/dev/VG/LV:file:${keyFile}`]));
    expect(insp).not.toContain('--root');
    expect(readFileSync(path.join(rec, `inspector-key-${path.basename(written)}`), 'utf8')).toBe(secret);
    // --root /dev/sda2 of a two-OS guest: its OS facts are sda2's.
    expect(readFileSync(path.join(logs, 'convert.log'), 'utf8')).toContain('"distro":"debian"');
    // The key file is gone with the job.
    expect(existsSync(written)).toBe(false);

    // job.json recorded our command line with the passphrase hidden.
    const job = JSON.parse(readFileSync(path.join(rec, 'job.json'), 'utf8')) as { argv: string[] };
    expect(job.argv).toContain('/dev/sda2:key:<redacted>');
    expect(job.argv).toContain(`--key=/dev/VG/LV:file:${keyFile}`);
    // Nowhere: not in any log, not on stdout or stderr.
    const everything = [r.stdout, r.stderr, ...filesUnder(logs).map((f) => readFileSync(f, 'utf8')), readFileSync(path.join(rec, 'job.json'), 'utf8')];
    for (const text of everything) expect(text).not.toContain(secret);
  });
});
