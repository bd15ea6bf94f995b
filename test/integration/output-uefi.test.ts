// A UEFI guest needs OVMF on the host: -o qemu's NAME.sh names its files,
// and virt-v2v refuses -o local too (output.ml, error_unless_uefi_firmware).
// Without it, output setup refuses in one line naming the files looked
// for, before any disk is created; a job whose source says UEFI is refused
// at pre-flight. V2V_OVMF_PATHS points the lookup at files of the test's
// own (src/steps/output/ovmf.ts). No conversion: step subcommands over a
// small blank disk, with --no-convert.
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, vi } from 'vitest';
import type { MetadataOut } from '../../src/metadata/schema.js';
import { outputFinalize, outputSetup, type OutputOptions } from '../../src/steps/output/output.js';
import { createWorkDir } from '../../src/workdir/workdir.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { fakeOvmf, run, test } from '../helpers/fixtures.js';
import { has, thrownBy } from '../helpers/tools.js';
import { requireOvmf } from '../../src/steps/output/ovmf.js';

const log = pino({ level: 'silent' });

/** A UEFI guest's metadata.out, one small disk. */
const META: MetadataOut = {
  version: 1,
  kind: 'v2v-metadata-out',
  name: 'u',
  converted: false,
  os: null,
  firmware: 'uefi',
  machine: 'q35',
  memory: 512 * 1024 * 1024,
  vcpus: 1,
  diskBus: 'virtio',
  nicModel: 'virtio',
  disks: [{ index: 0, size: 1024 * 1024 }],
  nics: [],
  removables: [],
};

afterEach(() => {
  vi.unstubAllEnvs();
});

const MISSING = { V2V_OVMF_PATHS: '/nonexistent/ovmf/CODE.fd,/nonexistent/ovmf/VARS.fd' };

/** A 16 MiB blank disk in TMP and a work dir holding its input and metadata.out with firmware uefi. */
async function uefiWorkDir(tmp: string): Promise<string> {
  const img = path.join(tmp, 'g.img');
  await run(['qemu-img', 'create', '-q', '-f', 'raw', img, '16M']);
  const wd = path.join(tmp, 'wd');
  const inp = await runCli(['input', '-i', 'disk', img, '--workdir', wd]);
  expect(inp.code, inp.stderr).toBe(0);
  const conv = await runCli(['convert', wd, '--no-convert']);
  expect(conv.code, conv.stderr).toBe(0);
  const file = path.join(wd, 'metadata.out');
  const meta = JSON.parse(await readFile(file, 'utf8')) as { firmware: string };
  expect(meta.firmware).toBe('bios');
  await writeFile(file, JSON.stringify({ ...meta, firmware: 'uefi' }, null, 2));
  return wd;
}

/** Run BODY on a fresh UEFI work dir, then `v2v cleanup` it whatever happened. */
async function withUefiWorkDir(tmp: string, body: (wd: string, out: string) => Promise<void>): Promise<void> {
  const out = path.join(tmp, 'out');
  await mkdir(out);
  const wd = await uefiWorkDir(tmp);
  try {
    await body(wd, out);
  } finally {
    await runCli(['cleanup', wd]);
  }
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd');

describe.skipIf(needs)('UEFI guests and OVMF', () => {
  test('no OVMF: output setup -o qemu and -o local exit 1 in one line naming the files, nothing created', async ({ tmp }) => {
    await withUefiWorkDir(tmp, async (wd, out) => {
      for (const o of ['qemu', 'local']) {
        const r = await runCli(['output', 'setup', wd, '-o', o, '-os', out], { env: MISSING });
        expectOneError(r, 'cannot find firmware for UEFI guests', 'install OVMF', '/nonexistent/ovmf/CODE.fd', '/nonexistent/ovmf/VARS.fd');
        expect(await readdir(out), `-o ${o}: nothing in -os`).toEqual([]);
        const left = await readdir(wd);
        expect(left.filter((e) => /^out\d|^output\.json$/.test(e)), `-o ${o}: no output server or state`).toEqual([]);
      }
    });
  });

  test('OVMF found (V2V_OVMF_PATHS): output setup -o qemu goes ahead', async ({ tmp }) => {
    const { env } = await fakeOvmf(tmp);
    await withUefiWorkDir(tmp, async (wd, out) => {
      const setup = await runCli(['output', 'setup', wd, '-o', 'qemu', '-os', out, '-on', 'u'], { env });
      expect(setup.code, setup.stderr).toBe(0);
      expect(await readdir(out)).toEqual(['.u-sda.v2v-partial']);
    });
  });

  test('OVMF found: NAME.sh names the CODE and VARS files found', async ({ tmp }) => {
    const { env, code, vars } = await fakeOvmf(tmp);
    vi.stubEnv('V2V_OVMF_PATHS', `/nonexistent/C.fd,/nonexistent/V.fd:${env.V2V_OVMF_PATHS}`);
    const wd = await createWorkDir(tmp);
    const o: OutputOptions = { type: 'qemu', storage: tmp, format: 'raw', allocation: 'sparse', name: 'u' };
    try {
      await outputFinalize(META, o, await outputSetup(META, o, wd, log), log);
    } finally {
      await wd.remove();
    }
    const sh = await readFile(path.join(tmp, 'u.sh'), 'utf8');
    expect(sh).toContain(`if=pflash,format=raw,readonly=on,file=${code}`);
    expect(sh).toContain(`cp '${vars}' "$uefi_vars"`);
    await run(['sh', '-n', path.join(tmp, 'u.sh')]);
  });

  test('a source that says UEFI, no OVMF: the job is refused at pre-flight, before any step', async ({ tmp }) => {
    const img = path.join(tmp, 'g.img');
    await run(['qemu-img', 'create', '-q', '-f', 'raw', img, '16M']);
    const xml = path.join(tmp, 'g.xml');
    await writeFile(
      xml,
      `<domain type='kvm'><name>g</name><memory unit='MiB'>512</memory><os firmware='efi'><type arch='x86_64'>hvm</type></os>` +
        `<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
    );
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    const r = await runCli(['-i', 'libvirtxml', xml, '-o', 'qemu', '-os', out, '--no-convert'], { env: { ...MISSING, TMPDIR: work } });
    expectOneError(r, 'cannot find firmware for UEFI guests', '/nonexistent/ovmf/CODE.fd');
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(work), 'no work dir left').toEqual([]);
  });
});

describe('the OVMF lookup', () => {
  test('V2V_OVMF_PATHS: the first pair whose two files exist; a malformed value is refused naming it', async ({ tmp }) => {
    const { code, vars } = await fakeOvmf(tmp);
    const paths = `/nonexistent/C.fd,/nonexistent/V.fd:${code},${vars}`;
    expect(requireOvmf({ V2V_OVMF_PATHS: paths })).toEqual({ code, vars });
    // Both files must exist: CODE alone is not enough.
    const e = thrownBy(() => requireOvmf({ V2V_OVMF_PATHS: `${code},/nonexistent/V.fd` }));
    expect(e.code).toBe('INPUT_ERROR');
    expect(e.message).toBe(
      `cannot find firmware for UEFI guests: you probably need to install OVMF (x86-64); looked for ${code} with /nonexistent/V.fd (from V2V_OVMF_PATHS)`,
    );
    const bad = thrownBy(() => requireOvmf({ V2V_OVMF_PATHS: 'relative.fd' }));
    expect(bad.code).toBe('CONFIG_ERROR');
    expect(bad.message).toMatch(/^V2V_OVMF_PATHS: "relative\.fd": expected CODE,VARS/);
  });
});
