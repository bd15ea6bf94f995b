// The slow tier's guests: the project's Debian 12 sample (built and cached
// by scripts/build-sample-guest.sh) and variants the tests derive from it
// with guestfish, as qcow2 overlays over it (the cached image is never
// written). libguestfs runs on TCG unless told otherwise (KVM hangs on this
// project's machines, REFERENCE.md).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, sha256File } from './fixtures.js';
import { repoRoot } from './cli.js';
import { has } from './tools.js';

export const sampleGuest = path.join(repoRoot, '.cache', 'guests', 'debian12-sda.img');
export const tcg = { LIBGUESTFS_BACKEND_SETTINGS: process.env.LIBGUESTFS_BACKEND_SETTINGS ?? 'force_tcg' };
export const noSampleGuest = !existsSync(sampleGuest) || !has('virt-v2v-in-place') || !has('guestfish') || !has('qemu-system-x86_64');

/** A qcow2 overlay over the sample guest (the sample stays unchanged). */
export async function overlayOfSample(file: string): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', sampleGuest, file]);
}

/**
 * A two-disk guest as it comes from VMware: sda the sample (qcow2 overlay),
 * sdb a new qcow2 disk with one ext4 partition mounted on /data by its
 * device name (/dev/sdb1) in fstab, holding /data/hello.
 */
export async function makeTwoDiskGuest(sda: string, sdb: string): Promise<{ blobSha256: string }> {
  await overlayOfSample(sda);
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', sdb, '256M']);
  // Enough data on sdb that its copy takes a while next to sda's.
  const blob = `${sdb}.blob`;
  await writeFile(blob, randomBytes(96 * 1024 * 1024));
  const blobSha256 = await sha256File(blob);
  await run(
    ['guestfish', '--format=qcow2', '-a', sda, '-a', sdb],
    {
      env: tcg,
      input: [
        'run',
        'part-disk /dev/sdb mbr',
        'mkfs ext4 /dev/sdb1',
        'mount /dev/sda1 /',
        'mkdir-p /data',
        'mount /dev/sdb1 /data',
        'write /data/hello "hello from sdb\\n"',
        `upload ${blob} /data/blob`,
        'write-append /etc/fstab "/dev/sdb1 /data ext4 defaults 0 2\\n"',
        'umount-all',
        'exit',
        '',
      ].join('\n'),
    },
  );
  await rm(blob);
  return { blobSha256 };
}

/**
 * Run guestfish COMMANDS on a converted guest's DISKS (read-only, its
 * filesystems mounted by inspection) in one libguestfs appliance: under TCG
 * each appliance start costs half a minute or more. Returns each command's
 * output, in order; rejects if any command fails.
 */
export async function guestOutputs(disks: string[], format: 'raw' | 'qcow2', commands: string[]): Promise<string[]> {
  const marker = `v2v-test-marker-${randomBytes(8).toString('hex')}`;
  const out = await run(['guestfish', '--ro', `--format=${format}`, ...disks.flatMap((d) => ['-a', d]), '-i'], {
    env: tcg,
    input: `${commands.flatMap((c) => [c, `echo ${marker}`]).join('\n')}\n`,
  });
  const parts = out.split(`${marker}\n`);
  if (parts.length !== commands.length + 1) throw new Error(`guestfish: expected ${commands.length} outputs, got: ${out.slice(0, 2000)}`);
  return parts.slice(0, -1);
}

/**
 * Run qemu (ARGV, its serial console on stdout) until the console shows a
 * login prompt, an initramfs ALERT or emergency mode, or TIMEOUT; return the
 * console text. qemu is killed either way.
 */
export async function bootConsole(argv: string[], timeoutMs = 240_000): Promise<string> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const qemu = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  qemu.stdout!.setEncoding('latin1').on('data', (d: string) => (text += d));
  qemu.stderr!.setEncoding('latin1').on('data', (d: string) => (text += d));
  try {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs && !/login:|ALERT!|emergency mode/i.test(text) && qemu.exitCode === null) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    return text;
  } finally {
    // The script may run qemu under sh: the whole group goes.
    try {
      process.kill(-qemu.pid!, 'SIGKILL');
    } catch {
      qemu.kill('SIGKILL');
    }
  }
}

/**
 * Boot DISK (snapshot: it stays as it is) on virtio disk and NIC, q35, TCG,
 * its serial console on stdout, until a login prompt (bootConsole). TCG
 * takes 30-45 s to the prompt on an idle machine, minutes on a busy one.
 */
export function bootOnVirtio(disk: string, format: 'raw' | 'qcow2', timeoutMs = 420_000): Promise<string> {
  return bootConsole(
    [
      'qemu-system-x86_64',
      '-machine', 'q35,accel=tcg', '-m', '1024', '-display', 'none',
      '-drive', `file=${disk},format=${format},if=virtio,snapshot=on`,
      '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
      '-serial', 'stdio',
    ],
    timeoutMs,
  );
}
