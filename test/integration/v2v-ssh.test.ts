// `-i vmx -it ssh` against a real sshd: each test starts its own on
// loopback (a host key, a config and authorized keys in its tmp dir, never
// the system's), an ssh-agent holding a key made here, and gives v2v a HOME
// whose .ssh/known_hosts has (or lacks) the server's key. A flat vmdk is
// read over SFTP through nbdkit's ssh plugin, printed and copied byte for
// byte; an unknown host key, a wrong password, a refused connection, a
// sparse vmdk and a missing -ip file each end as one line, exit 1, with no
// nbdkit left and no temp dir behind. No system user or file is touched
// (the wrong password is tried on `nobody`, who has none).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { freePort } from '../../src/process/ports.js';
import { runCli, sourceOf, type CliResult } from '../helpers/cli.js';
import { run, test, makeRaw } from '../helpers/fixtures.js';
import { has, waitFor } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const SSHD = '/usr/sbin/sshd';
const me = userInfo().username;
/** `s` matched literally in a RegExp. */
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Ssh {
  port: number;
  /** known_hosts holds the server's key. */
  env: NodeJS.ProcessEnv;
  /** Same agent, but an empty known_hosts. */
  strangerEnv: NodeJS.ProcessEnv;
  url(user: string, file: string): string;
  /** What sshd logged so far. */
  log(): string;
}

/** Wait until `child` wrote `re` on stderr; reject if it exits first. */
function stderrSays(child: ChildProcess, re: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`${what}: not ready in time: ${err}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (re.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited (${code}): ${err}`));
    });
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/** Run `fn` with an sshd and an ssh-agent of our own, both killed after. */
async function withSsh(tmp: string, fn: (ssh: Ssh) => Promise<void>): Promise<void> {
  const d = path.join(tmp, 'ssh');
  await mkdir(d);
  await mkdir('/run/sshd', { recursive: true }); // sshd's privilege separation dir
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'v2v-test-host', '-f', path.join(d, 'host_key')]);
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'v2v-test-client', '-f', path.join(d, 'client_key')]);
  // Only this user has a key; `nobody` gets none.
  await writeFile(path.join(d, `authorized_keys.${me}`), await readFile(path.join(d, 'client_key.pub')));
  const config = path.join(d, 'sshd_config');
  await writeFile(
    config,
    [
      `HostKey ${path.join(d, 'host_key')}`,
      'ListenAddress 127.0.0.1',
      `PidFile ${path.join(d, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(d, 'authorized_keys.%u')}`,
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  let sshd: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  try {
    sshd = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sshdLog = '';
    sshd.stderr!.on('data', (b: Buffer) => (sshdLog += b.toString()));
    await stderrSays(sshd, /Server listening on 127\.0\.0\.1 port/, 'sshd');
    const sock = path.join(d, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(() => existsSync(sock), 10_000, 'the ssh-agent socket');
    await run(['ssh-add', '-q', path.join(d, 'client_key')], { env: { SSH_AUTH_SOCK: sock } });

    const hostKey = (await readFile(path.join(d, 'host_key.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    const home = path.join(tmp, 'home');
    const stranger = path.join(tmp, 'stranger');
    await mkdir(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await mkdir(path.join(stranger, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(path.join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
    await writeFile(path.join(stranger, '.ssh', 'known_hosts'), '');
    await fn({
      port,
      env: { HOME: home, SSH_AUTH_SOCK: sock },
      strangerEnv: { HOME: stranger, SSH_AUTH_SOCK: sock },
      url: (user, file) => `ssh://${user}@127.0.0.1:${port}${file}`,
      log: () => sshdLog,
    });
  } finally {
    await stop(agent);
    await stop(sshd);
  }
}

async function writeVmx(file: string, vmdk: string): Promise<void> {
  await writeFile(
    file,
    [
      '.encoding = "UTF-8"',
      'displayName = "sshguest"',
      'guestOS = "debian12-64"',
      'memsize = "2048"',
      'numvcpus = "2"',
      'scsi0.present = "TRUE"',
      'scsi0:0.present = "TRUE"',
      `scsi0:0.fileName = "${vmdk}"`,
      'ide1:0.present = "TRUE"',
      'ide1:0.deviceType = "cdrom-image"',
      'ide1:0.fileName = "/vmfs/volumes/iso/install.iso"',
      'ethernet0.present = "TRUE"',
      'ethernet0.virtualDev = "vmxnet3"',
      'ethernet0.networkName = "VM Network"',
      'ethernet0.addressType = "generated"',
      'ethernet0.generatedAddress = "00:0C:29:12:34:56"',
      '',
    ].join('\n'),
  );
}


/** nbdkit processes whose command line names this port (ours would: port=PORT). */
async function nbdkitsFor(port: number): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const words = argv.split('\0');
    if (words[0]?.endsWith('nbdkit') && words.includes(`port=${port}`)) found.push(`${pid}: ${words.join(' ')}`);
  }
  return found;
}

/** One line on stderr matching `re`, exit 1, nothing running, no temp dir left in `work`. */
async function oneError(r: CliResult, re: RegExp, port: number, work: string): Promise<void> {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(await nbdkitsFor(port)).toEqual([]);
  expect((await readdir(work)).filter((f) => !f.startsWith('v2v-log-'))).toEqual([]);
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('nbdcopy') || !existsSync(SSHD) || !has('ssh-keygen') || !has('ssh-agent') || !has('ssh-add');

describe.skipIf(needs || process.getuid?.() !== 0)('v2v -i vmx -it ssh', () => {
  test('a flat vmdk over ssh: printed with its ssh:// source, copied byte for byte', async ({ tmp }) => {
    const base = path.join(tmp, 'base.img');
    await makeRaw(base, 48, 7);
    const dir = path.join(tmp, 'remote', 'my guest');
    await mkdir(dir, { recursive: true });
    // qemu-img writes a NUL-padded descriptor next to guest-flat.vmdk.
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', base, path.join(dir, 'guest.vmdk')]);
    await writeVmx(path.join(dir, 'guest.vmx'), 'guest.vmdk');
    const work = path.join(tmp, 'work');
    await mkdir(work);
    await withSsh(tmp, async (ssh) => {
      const url = ssh.url(me, `${encodeURI(dir)}/guest.vmx`);
      expect(url).toContain('my%20guest');
      const env = { ...ssh.env, TMPDIR: work };

      const p = await runCli(['-i', 'vmx', '-it', 'ssh', url, '--print-source', '--machine-readable'], { env });
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      const src = sourceOf(p);
      expect(src).toMatchObject({ name: 'sshguest', input: 'vmx', memory: 2048 * MiB, vcpus: 2, firmware: 'bios' });
      expect(src.disks).toEqual([
        { index: 0, socket: 'in0', source: ssh.url(me, `${encodeURI(dir)}/guest-flat.vmdk`), format: 'raw', size: 48 * MiB, bus: 'scsi' },
      ]);
      expect(src.nics).toEqual([{ vnet: 'VM Network', vnetType: 'network', mac: '00:0c:29:12:34:56', model: 'vmxnet3' }]);

      const out = path.join(tmp, 'out');
      await mkdir(out);
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', url, '-o', 'local', '-os', out, '--no-convert', '-q'], { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((await readdir(out)).sort()).toEqual(['sshguest-sda', 'sshguest.xml']);
      await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', path.join(dir, 'guest-flat.vmdk'), path.join(out, 'sshguest-sda')]);
      expect(await nbdkitsFor(ssh.port)).toEqual([]);
      expect(await readdir(work)).toEqual([]);
    });
  });

  /** A flat and a sparse guest in tmp/remote, and what a failing run needs. */
  async function failing(tmp: string): Promise<{ dir: string; work: string; out: string; job: string[]; wrongPassword: string }> {
    const base = path.join(tmp, 'base.img');
    await makeRaw(base, 8, 8);
    const dir = path.join(tmp, 'remote');
    await mkdir(dir);
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', base, path.join(dir, 'guest.vmdk')]);
    await writeVmx(path.join(dir, 'guest.vmx'), 'guest.vmdk');
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', base, path.join(dir, 'sparse.vmdk')]);
    await writeVmx(path.join(dir, 'sparse.vmx'), 'sparse.vmdk');
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    await mkdir(work);
    await mkdir(out);
    const wrongPassword = path.join(tmp, 'password');
    await writeFile(wrongPassword, 'not-the-password\n', { mode: 0o600 });
    return { dir, work, out, job: ['-o', 'local', '-os', out, '--no-convert', '-q'], wrongPassword };
  }

  test('an unknown host key: refused (never accepted), one line', async ({ tmp }) => {
    const f = await failing(tmp);
    await withSsh(tmp, async (ssh) => {
      const url = ssh.url(me, `${f.dir}/guest.vmx`);
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', url, ...f.job], { env: { ...ssh.strangerEnv, TMPDIR: f.work } });
      await oneError(r, new RegExp(`^v2v: error: input: ${re(url)}: either the host key is unknown`), ssh.port, f.work);
      expect(ssh.log()).not.toMatch(/Accepted/);
    });
    expect(await readdir(f.out)).toEqual([]);
  });

  test('-ip with a wrong password (for nobody, who has none and no key): one line', async ({ tmp }) => {
    const f = await failing(tmp);
    await withSsh(tmp, async (ssh) => {
      const url = ssh.url('nobody', `${f.dir}/guest.vmx`);
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', '-ip', f.wrongPassword, url, ...f.job], { env: { ...ssh.env, TMPDIR: f.work } });
      await oneError(r, new RegExp(`^v2v: error: input: ${re(url)}: all possible authentication methods failed$`), ssh.port, f.work);
      // The password from the file was tried (and no key let nobody in).
      await waitFor(() => /Failed password for nobody from 127\.0\.0\.1/.test(ssh.log()), 5000, 'sshd to log the failed password');
      expect(ssh.log()).not.toMatch(/Accepted/);
    });
  });

  test('a refused connection: one line', async ({ tmp }) => {
    const f = await failing(tmp);
    await withSsh(tmp, async (ssh) => {
      // Port 1 (tcpmux): nothing listens there. A port found free a moment
      // ago could be taken by a parallel test before the connection.
      const closed = 1;
      const url = `ssh://${me}@127.0.0.1:${closed}${f.dir}/guest.vmx`;
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', url, ...f.job], { env: { ...ssh.env, TMPDIR: f.work } });
      await oneError(r, new RegExp(`^v2v: error: input: ${re(url)}: failed to connect to remote host: 127\\.0\\.0\\.1: Connection refused$`), closed, f.work);
    });
  });

  test('a sparse vmdk: only flat vmdks are supported over ssh (as in virt-v2v), one line', async ({ tmp }) => {
    const f = await failing(tmp);
    await withSsh(tmp, async (ssh) => {
      const url = ssh.url(me, `${f.dir}/sparse.vmx`);
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', url, ...f.job], { env: { ...ssh.env, TMPDIR: f.work } });
      await oneError(
        r,
        new RegExp(`^v2v: error: input: ${re(url)}: line 8: scsi0:0\\.fileName: sparse\\.vmdk: only flat vmdks are supported over ssh \\(this is a sparse VMDK\\)$`),
        ssh.port,
        f.work,
      );
    });
    expect(await readdir(f.out)).toEqual([]);
  });

  test('-ip FILE that does not exist, or a password in the URI: one line before anything starts', async ({ tmp }) => {
    const f = await failing(tmp);
    await withSsh(tmp, async (ssh) => {
      const url = ssh.url(me, `${f.dir}/guest.vmx`);
      const missing = path.join(tmp, 'no-such-password');
      const r = await runCli(['-i', 'vmx', '-it', 'ssh', '-ip', missing, url, ...f.job], { env: { ...ssh.env, TMPDIR: f.work } });
      await oneError(r, new RegExp(`^v2v: error: -ip ${re(missing)}: No such file or directory$`), ssh.port, f.work);

      const inUri = await runCli(['-i', 'vmx', '-it', 'ssh', url.replace(`${me}@`, `${me}:s3cret@`), ...f.job], { env: { ...ssh.env, TMPDIR: f.work } });
      await oneError(inUri, /^v2v: error: -it ssh: a password in the URI is not allowed: put it in a file and give -ip FILE$/, ssh.port, f.work);
      expect(inUri.stderr).not.toContain('s3cret');
    });
  });
});
