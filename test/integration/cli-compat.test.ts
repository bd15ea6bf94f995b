// virt-v2v's command line as its own test scripts use it (tests/*.sh of
// virt-v2v 2.2.0), on the real CLI: --version, --machine-readable alone and
// with =FORMAT, --debug-gc and the other options that change nothing here,
// -io/-oo with `?`, --root and --key checked as virt-v2v checks them, and
// the error texts the scripts grep ("v2v: error: ...", "duplicate
// -b/--bridge parameter", "expecting a disk image", "-i ova: corrupt OVA").
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneError, repoRoot, runCli, stderrLines } from '../helpers/cli.js';
import { run, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** Exit 0, TEXT on stdout, nothing on stderr. */
function expectPrinted(r: Awaited<ReturnType<typeof runCli>>, text: string): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(text);
}

const CAPABILITIES = [
  'virt-v2v',
  'virt-v2v-2.0',
  'libguestfs-rewrite',
  'colours-option',
  'io/oo',
  'mac-option',
  'input:disk',
  'input:libvirt',
  'input:libvirtxml',
  'input:ova',
  'input:vmx',
  'output:json',
  'output:kubevirt',
  'output:libvirt',
  'output:local',
  'output:null',
  'output:qemu',
  'convert:linux',
  'convert:windows',
];

describe('virt-v2v compatibility: options', () => {
  it('--version and -V print "v2v VERSION" (virt-v2v: "virt-v2v 2.2.0"), exit 0; the rest of the line is not read', async () => {
    expectPrinted(await runCli(['--version']), `v2v ${version}\n`);
    expectPrinted(await runCli(['-V']), `v2v ${version}\n`);
    expectPrinted(await runCli(['--debug-gc', '--version', '--no-such-option']), `v2v ${version}\n`);
  });

  it('--debug-gc --machine-readable alone prints the capability words (test-v2v-machine-readable.sh), exit 0', async () => {
    const r = await runCli(['--debug-gc', '--machine-readable']);
    expectPrinted(r, CAPABILITIES.map((w) => `${w}\n`).join(''));
    // What we do not have is not claimed.
    for (const w of ['vddk', 'vcenter-https', 'xen-ssh', 'mac-ip-option', 'bandwidth-option']) expect(r.stdout.split('\n')).not.toContain(w);
    // Other options do not change it: only a file or guest name starts a conversion.
    expectPrinted(await runCli(['--machine-readable', '-i', 'disk', '-o', 'null']), r.stdout);
  });

  test('--machine-readable=file:NAME, fd:N, stream:stderr send the words there; bad formats in virt-v2v\'s words', async ({ tmp }) => {
    const words = CAPABILITIES.map((w) => `${w}\n`).join('');
    const file = path.join(tmp, 'caps');
    expectPrinted(await runCli([`--machine-readable=file:${file}`]), '');
    expect(readFileSync(file, 'utf8')).toBe(words);
    const fd = await runCli(['--machine-readable=fd:3'], { extraFds: 1 });
    expect({ code: fd.code, stdout: fd.stdout, extra: fd.extra[0] }).toEqual({ code: 0, stdout: '', extra: words });
    const err = await runCli(['--machine-readable=stream:stderr']);
    expect({ code: err.code, stdout: err.stdout, stderr: err.stderr }).toEqual({ code: 0, stdout: '', stderr: words });
    expectPrinted(await runCli(['--machine-readable=stream:stdout']), words);
    expectOneError(await runCli(['--machine-readable=file:']), 'v2v: error: invalid format string for --machine-readable: file:');
    expectOneError(await runCli(['--machine-readable=fd:x']), 'v2v: error: invalid output fd for --machine-readable: fd:x');
    expectOneError(await runCli(['--machine-readable=stream:tty']), 'v2v: error: invalid output stream for --machine-readable: stream:tty');
    expectOneError(await runCli(['--machine-readable=pipe:x']), 'v2v: error: invalid output for --machine-readable: pipe:x');
  });

  it('--debug-gc, --colours/--colors/--colour/--color, --wrap, --echo-keys are accepted (the error is the next one)', async () => {
    const opts = ['--debug-gc', '--colours', '--colors', '--colour', '--color', '--wrap', '--echo-keys'];
    expectOneError(await runCli(['-i', 'disk', '-o', 'null', ...opts]), /^v2v: error: -i disk: expecting a disk image/);
  });

  it('-oo ? and -io ? list the options as virt-v2v does, exit 0; -oo/-io values refused in virt-v2v\'s words', async () => {
    const compressed = '  -oo compressed      Compress the output file (used only with -of qcow2)\n';
    expectPrinted(await runCli(['-i', 'disk', 'a.img', '-o', 'local', '-oo', '?']), `Output options that can be used with -o disk:\n\n${compressed}`);
    expectPrinted(
      await runCli(['-i', 'disk', 'a.img', '-o', 'qemu', '-oo', '?']),
      `Output options (-oo) which can be used with -o qemu:\n\n${compressed}  -oo qemu-boot       Boot the guest in qemu after conversion\n`,
    );
    expectPrinted(await runCli(['-i', 'disk', 'a.img', '-o', 'null', '-oo', '?']), 'No output options can be used in this mode.\n');
    expectPrinted(await runCli(['-i', 'disk', '-io', '?']), 'No input options can be used in this mode.\n');
    const d = ['-i', 'disk', 'a.img'];
    expectOneError(await runCli([...d, '-o', 'local', '-os', '/tmp', '-oo', 'frob=1']), 'v2v: error: -o local: unknown output option ‘-oo frob’');
    expectOneError(await runCli([...d, '-o', 'qemu', '-os', '/tmp', '-oo', 'qemu-boot']), 'v2v: error: -o qemu: -oo qemu-boot: booting the converted guest is not supported');
    expectOneError(await runCli([...d, '-o', 'null', '-oo', 'x']), 'v2v: error: no -oo (output options) are allowed here');
    expectOneError(await runCli([...d, '-o', 'null', '-io', 'x=y']), 'v2v: error: no -io (input options) are allowed here');
  });

  it('--root and --key are checked as virt-v2v checks them; a passphrase never shows', async () => {
    const d = ['-i', 'disk', 'a.img', '-o', 'null'];
    expectOneError(await runCli([...d, '--root', 'second']), 'v2v: error: unknown --root option: second');
    const secret = 'Sekr1t-passphrase';
    const cases: [string, string][] = [
      ['/dev/sda2', "selector '/dev/sda2': missing TYPE"],
      ['/dev/sda2:key', "selector '/dev/sda2:key': missing KEY_STRING, or too many fields"],
      [`/dev/sda2:key:${secret}:x`, "selector '/dev/sda2:key:<redacted>': missing KEY_STRING, or too many fields"],
      ['/dev/sda2:file', "selector '/dev/sda2:file': missing FILENAME, or too many fields"],
      ['/dev/sda2:tpm', "selector '/dev/sda2:tpm': invalid TYPE"],
      ['/dev/sda2:clevis', "selector '/dev/sda2:clevis': Clevis is not supported"],
    ];
    for (const [sel, message] of cases) {
      const line = expectOneError(await runCli([...d, '--key', sel]), `v2v: error: --key: ${message}`);
      expect(line).not.toContain(secret);
    }
  });
});

describe('virt-v2v compatibility: error texts', () => {
  test('errors are "v2v: error: ..." (virt-v2v: "virt-v2v: error: ..."), the step kept after it; the log it names holds the error', async ({ tmp }) => {
    expectOneError(await runCli(['--frobnicate']), /^v2v: error: unknown option --frobnicate/);
    const line = expectOneError(await runCli(['-i', 'disk', '/nonexistent/MISSING.img', '-o', 'null'], { env: { TMPDIR: tmp } }), /^v2v: error: input: .*MISSING\.img/);
    const log = /\(log: (\/\S+\.log)\)$/.exec(line)?.[1];
    expect(log && path.dirname(path.dirname(log)), line).toBe(tmp);
    const logged = JSON.parse(await readFile(log!, 'utf8')) as { step: string; msg: string; err: { message: string } };
    expect(logged).toMatchObject({ step: 'input', msg: 'step failed', err: { message: expect.stringContaining('MISSING.img') } });
    expectOneError(await runCli(['copy']), /^v2v: error: missing required argument/);
  });

  test('duplicate -n/-b and a missing disk image: test-v2v-bad-networks-and-bridges.sh', async ({ tmp }) => {
    const file = path.join(tmp, 'test-v2v-bad-networks-and-bridges.img');
    await writeFile(file, '');
    const cmd = ['-i', 'disk', '-o', 'null', file];
    const dup: [string[], string][] = [
      [['-b', 'b1', '-b', 'b1'], 'duplicate -b/--bridge parameter.  Only one default mapping is allowed'],
      [['-n', 'n1', '-n', 'n1'], 'duplicate -n/--network parameter.  Only one default mapping is allowed'],
      [['-b', 'b1', '-n', 'b1', '-b', 'b1'], 'duplicate -b/--bridge parameter'],
      [['-b', 'b1', '-n', 'b1', '-n', 'b2'], 'duplicate -n/--network parameter'],
      [['-b', 'b1:r1', '-b', 'b1:r2'], 'duplicate -b/--bridge parameter.  Duplicate mappings specified for bridge "b1"'],
      [['-n', 'n1:r1', '-n', 'n1:r2'], 'duplicate -n/--network parameter.  Duplicate mappings specified for network "n1"'],
    ];
    for (const [args, text] of dup) expectOneError(await runCli([...cmd, ...args]), `v2v: error: ${text}`);
    const maps = [[], ['-b', 'b1'], ['-n', 'n1'], ['-b', 'b1', '-n', 'n1'], ['-b', 'b1:r1', '-b', 'b2', '-n', 'n1:r1', '-n', 'n2']];
    for (const m of maps) {
      expectOneError(await runCli(['-i', 'disk', '-o', 'null', ...m]), 'v2v: error: -i disk: expecting a disk image (filename) on the command line');
    }
  });

  it('the other inputs without their file: virt-v2v\'s words', async () => {
    expectOneError(await runCli(['-i', 'ova', '-o', 'null']), 'v2v: error: -i ova: expecting an OVA file name on the command line');
    expectOneError(await runCli(['-i', 'libvirtxml', '-o', 'null']), 'v2v: error: -i libvirtxml: expecting a libvirt XML filename on the command line');
    expectOneError(await runCli(['-i', 'vmx', 'a.vmx', 'b.vmx', '-o', 'null']), 'v2v: error: -i vmx: expecting a VMX file or ssh:// URI (got 2 arguments)');
  });

  test.skipIf(!has('tar') || !has('qemu-img'))('a checksum that does not match: "error: -i ova: corrupt OVA" (test-v2v-i-ova-bad-sha1.sh)', async ({ tmp }) => {
    const disk = path.join(tmp, 'disk.vmdk');
    await run(['qemu-img', 'create', '-q', '-f', 'vmdk', disk, '1M']);
    await writeFile(
      path.join(tmp, 'test.ovf'),
      `<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="disk.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:capacity="1048576" ovf:diskId="d1" ovf:fileRef="file1"/></DiskSection>
  <VirtualSystem ovf:id="test"><Name>test</Name><VirtualHardwareSection>
    <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:HostResource>ovf:/disk/d1</rasd:HostResource></Item>
  </VirtualHardwareSection></VirtualSystem>
</Envelope>
`,
    );
    await writeFile(path.join(tmp, 'test.mf'), `SHA1(disk.vmdk)= ${'ab'.repeat(20)}\n`);
    const ova = path.join(tmp, 'test.ova');
    await run(['tar', '-C', tmp, '-cf', ova, 'test.ovf', 'disk.vmdk', 'test.mf']);
    const r = await runCli(['--debug-gc', '--quiet', '-i', 'ova', ova, '--print-source']);
    const line = expectOneError(r, 'error: -i ova: corrupt OVA');
    expect(line).toMatch(/^v2v: error: -i ova: corrupt OVA: \S+test\.ova: checksum of disk disk\.vmdk does not match manifest \(SHA1: actual = [0-9a-f]{40}, expected = (ab){20}\)$/);
    expect(stderrLines(r)).toHaveLength(1);
  });
});
