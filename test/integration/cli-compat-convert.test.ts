// --root and --key reach the conversion (virt-v2v-in-place), while a
// passphrase given on the command line reaches it only as a file of the
// private work dir: never an argument, never a log line (not even when the
// program's -v output echoes it), never job.json's record of our own command
// line. A stand-in for virt-v2v-in-place (first on PATH) records what it was
// given and reports as 2.2 does with -v; the rest of the job is real (-i
// disk, the private network namespace, -o null).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeRaw, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

// What virt-v2v-in-place -v reports (report.ts) for the root it converted,
// with the passphrase echoed in a line of its output.
const REPORT = (secret: string) => `i_root = /dev/sda2
i_type = linux
i_distro = debian
i_osinfo = debian12
i_arch = x86_64
i_major_version = 12
i_minor_version = 0
i_product_name = Debian 12
i_firmware = BIOS
luks_open: key ${secret}
gcaps_block_bus = virtio-blk
gcaps_net_bus = virtio-net
gcaps_machine = q35
gcaps_arch = x86_64
`;

/** A stand-in for virt-v2v-in-place in BIN, recording into REC: its arguments, the key files' contents, job.json. */
async function standIns(bin: string, rec: string, secret: string): Promise<void> {
  await mkdir(bin);
  await mkdir(rec);
  const keys = `for a in "$@"; do case "$a" in *:file:*) f="\${a#*:file:}"; cat "$f" > "${rec}/$1-key-$(basename "$f")"; stat -c %a "$f" > "${rec}/$1-mode-$(basename "$f")";; esac; done`;
  await writeFile(
    path.join(bin, 'virt-v2v-in-place'),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${rec}/v2v-argv"\nset -- v2v "$@"\n${keys}\ncp "$TMPDIR/job.json" "${rec}/job.json"\ncat >&2 <<'EOF'\n${REPORT(secret)}EOF\n`,
  );
  await chmod(path.join(bin, 'virt-v2v-in-place'), 0o755);
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
    const secret = 'Sekr1t passphrase, not for logs';
    await standIns(bin, rec, secret);
    await mkdir(work);
    const disk = path.join(tmp, 'guest.img');
    await makeRaw(disk, 4, 7);
    const keyFile = path.join(tmp, 'lv.key');
    await writeFile(keyFile, 'from-a-file\n');
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
    expect(argv.slice(0, 7)).toEqual(['-v', '--root', '/dev/sda2', '--key', keyArg, '--key', `/dev/VG/LV:file:${keyFile}`]);
    expect(argv.slice(7, 9)).toEqual(['-i', 'libvirtxml']);
    expect(path.dirname(written).startsWith(work)).toBe(true);
    expect(readFileSync(path.join(rec, `v2v-key-${path.basename(written)}`), 'utf8')).toBe(secret);
    expect(readFileSync(path.join(rec, `v2v-mode-${path.basename(written)}`), 'utf8').trim()).toBe('600');
    expect(readFileSync(path.join(rec, 'v2v-key-lv.key'), 'utf8')).toBe('from-a-file\n');
    // The OS facts are those of the root it reported; the echoed passphrase is logged redacted.
    const convertLog = readFileSync(path.join(logs, 'convert.log'), 'utf8');
    expect(convertLog).toContain('"distro":"debian"');
    expect(convertLog).toContain('luks_open: key <redacted>');
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
