// The fast libguestfs appliance (src/steps/convert/appliance.ts): the host's
// bzImage unpacked into its PVH-bootable ELF, libguestfs' appliance given
// as a fixed one with that kernel, and a real boot of it. Bad inputs: not a
// bzImage, a corrupt payload, a cache dir that is not private.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { dir as tmpDir } from 'tmp-promise';
import { describe, expect, it } from 'vitest';
import { fastAppliance, fastApplianceEnv } from '../../src/steps/convert/appliance.js';
import { bzImagePayload, hasPvhEntry, KernelNotUnpackable, unpackKernel } from '../../src/steps/convert/vmlinux.js';
import { has } from '../helpers/tools.js';

const log = pino({ level: 'silent' });
const uid = process.getuid!();
const hostKernel = existsSync('/boot')
  ? readdirSync('/boot')
      .filter((f) => f.startsWith('vmlinuz-'))
      .map((f) => path.join('/boot', f))[0]
  : undefined;
const libguestfsRoot = process.env.LIBGUESTFS_CACHEDIR ?? '/var/tmp';
const appliance = path.join(libguestfsRoot, `.guestfs-${uid}`, 'appliance.d');
const noAppliance = !['kernel', 'initrd', 'root'].every((f) => existsSync(path.join(appliance, f))) || !has('guestfish');

describe.skipIf(!hostKernel)('a bzImage unpacked (vmlinux.ts)', () => {
  it('gives the ELF kernel with its PVH entry, of the size the bzImage says', async () => {
    const b = await readFile(hostKernel!);
    const p = bzImagePayload(b);
    expect(['gzip', 'xz', 'zstd']).toContain(p.format);
    const tmp = await tmpDir({ unsafeCleanup: true });
    const out = path.join(tmp.path, 'vmlinux');
    await unpackKernel(b, out);
    expect((await lstat(out)).size).toBe(p.size);
    expect(await hasPvhEntry(out)).toBe(true);
    // A program is an ELF too, without the note.
    expect(await hasPvhEntry(process.execPath)).toBe(false);
    await tmp.cleanup();
  });

  it('refuses what is not a bzImage, and a corrupt payload, with why', async () => {
    const tmp = await tmpDir({ unsafeCleanup: true });
    await expect(unpackKernel(await readFile(process.execPath), path.join(tmp.path, 'a'))).rejects.toThrow(new KernelNotUnpackable('not a bzImage'));
    const b = Buffer.from(await readFile(hostKernel!));
    const p = bzImagePayload(b);
    const at = p.data.byteOffset - b.byteOffset + Math.floor(p.data.length / 2);
    b.fill(0x55, at, at + 4096);
    const err = await unpackKernel(b, path.join(tmp.path, 'b')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelNotUnpackable);
    expect((err as Error).message).toMatch(/failed|unpacked \d+ bytes|invalid|unexpected/i);
    await tmp.cleanup();
  });
});

/** A libguestfs cache root whose appliance is the real one, linked (same inodes): what fastAppliance reads. */
async function cacheWithAppliance(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  // Beside the real cache, on its file system, so that links work.
  const root = await mkdtemp(path.join(libguestfsRoot, 'v2v-test-appliance-'));
  const d = path.join(root, `.guestfs-${uid}`, 'appliance.d');
  await mkdir(d, { recursive: true });
  for (const f of ['kernel', 'initrd', 'root']) await link(path.join(appliance, f), path.join(d, f));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

describe.skipIf(noAppliance || process.arch !== 'x64')('the fast appliance (appliance.ts)', () => {
  it('is made once from libguestfs\' appliance, boots, and is made anew when that changes', async () => {
    const c = await cacheWithAppliance();
    try {
      const made = await fastAppliance(c.root, log);
      if (!('dir' in made)) throw new Error(made.why);
      const dir = made.dir;
      expect(dir).toBe(path.join(c.root, `v2v.appliance-${uid}`, path.basename(dir)));
      expect((await lstat(path.dirname(dir))).mode & 0o777).toBe(0o700);
      const src = path.join(c.root, `.guestfs-${uid}`, 'appliance.d');
      for (const f of ['initrd', 'root']) expect((await lstat(path.join(dir, f))).ino).toBe((await lstat(path.join(src, f))).ino);
      expect(await hasPvhEntry(path.join(dir, 'kernel'))).toBe(true);
      const kernelIno = (await lstat(path.join(dir, 'kernel'))).ino;
      // Again: the same dir, not rebuilt.
      expect(await fastAppliance(c.root, log)).toEqual({ dir });
      expect((await lstat(path.join(dir, 'kernel'))).ino).toBe(kernelIno);

      // It boots: the appliance's kernel is the host's, the same release.
      const release = execFileSync('guestfish', ['-a', '/dev/null', 'run', ':', 'debug', 'sh', 'uname -r'], {
        env: { ...process.env, LIBGUESTFS_PATH: dir, LIBGUESTFS_CACHEDIR: c.root },
        encoding: 'utf8',
        timeout: 300_000,
      }).trim();
      expect(readdirSync('/boot')).toContain(`vmlinuz-${release}`);

      // supermin rebuilt libguestfs' appliance (new files): a new fixed one.
      await copyFile(path.join(src, 'initrd'), path.join(src, 'initrd.new'));
      await rename(path.join(src, 'initrd.new'), path.join(src, 'initrd'));
      const remade = await fastAppliance(c.root, log);
      if (!('dir' in remade)) throw new Error(remade.why);
      const again = remade.dir;
      expect(again).not.toBe(dir);
      expect((await lstat(path.join(again, 'initrd'))).ino).toBe((await lstat(path.join(src, 'initrd'))).ino);
    } finally {
      await c.cleanup();
    }
  }, 400_000);

  it('is not used from a cache dir that others can reach, nor without libguestfs\' appliance', async () => {
    const c = await cacheWithAppliance();
    const empty = await tmpDir({ unsafeCleanup: true });
    try {
      const top = path.join(c.root, `v2v.appliance-${uid}`);
      await mkdir(top, { mode: 0o700 });
      await chmod(top, 0o755);
      expect(await fastAppliance(c.root, log)).toEqual({ why: `${top} is not a private directory of ours` });
      const was = process.env.V2V_FAST_APPLIANCE;
      delete process.env.V2V_FAST_APPLIANCE; // the default: on, and still refused
      try {
        expect(await fastApplianceEnv(c.root, log)).toEqual({});
      } finally {
        if (was === undefined) delete process.env.V2V_FAST_APPLIANCE;
        else process.env.V2V_FAST_APPLIANCE = was;
      }
      expect(await fastAppliance(empty.path, log)).toEqual({ why: expect.stringMatching(/^no libguestfs appliance in .* yet/) });
    } finally {
      await Promise.all([c.cleanup(), empty.cleanup()]);
    }
  });
});
