// A private libvirtd for the -o libvirt tests: the Debian package's daemon
// (libvirt-daemon-system, installed by scripts/setup.sh), started as root in
// its own mount namespace with its own /etc/libvirt, /run/libvirt,
// /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt bound over the
// system's from a private temp dir, and its socket in that dir (mode 0700).
// So a test never touches the machine's own libvirt (running or not), and
// several test files may each run one. qemu runs as root here (the tests'
// pools live in 0700 temp dirs), its stdio logged to files (no virtlogd).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './fixtures.js';
import { waitFor } from './tools.js';

export interface Libvirtd {
  /** qemu:///system?socket=DIR/libvirt-sock */
  uri: string;
  dir: string;
  /** virsh -c URI ARGS..., its stdout. */
  virsh(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const BINDS = ['/etc/libvirt', '/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt'];

// Bind each private dir ($1/root/PATH) over PATH, then become libvirtd.
const SCRIPT = [
  'set -e',
  'd="$1"; shift',
  'for p in "$@"; do mkdir -p "$p"; mount --bind "$d/root$p" "$p"; done',
  'exec libvirtd --pid-file "$d/libvirtd.pid"',
].join('\n');

/** Why a private libvirtd cannot run here, or undefined. */
export function libvirtdMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the private libvirtd needs root (a mount namespace)';
  if (!existsSync('/usr/sbin/libvirtd')) return 'libvirtd is not installed (scripts/setup.sh installs libvirt-daemon-system)';
  return undefined;
}

export async function startLibvirtd(): Promise<Libvirtd> {
  const missing = libvirtdMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'v2v-test-libvirtd-'));
  for (const p of BINDS) mkdirSync(path.join(dir, 'root', p), { recursive: true });
  cpSync('/etc/libvirt', path.join(dir, 'root/etc/libvirt'), { recursive: true });
  const sock = path.join(dir, 'sock');
  mkdirSync(sock, { mode: 0o700 });
  writeFileSync(
    path.join(dir, 'root/etc/libvirt/libvirtd.conf'),
    [`unix_sock_dir = "${sock}"`, 'unix_sock_rw_perms = "0700"', 'unix_sock_ro_perms = "0700"', 'auth_unix_rw = "none"', 'auth_unix_ro = "none"', ''].join('\n'),
  );
  writeFileSync(path.join(dir, 'root/etc/libvirt/qemu.conf'), ['user = "root"', 'group = "root"', 'stdio_handler = "file"', ''].join('\n'));
  const log = path.join(dir, 'libvirtd.log');
  writeFileSync(log, '');
  const child: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', SCRIPT, 'sh', dir, ...BINDS], {
    stdio: ['ignore', 'ignore', 'ignore'],
    detached: true,
    env: { ...process.env, LIBVIRT_LOG_OUTPUTS: `3:file:${log}` },
  });
  const uri = `qemu:///system?socket=${sock}/libvirt-sock`;
  const virsh = (...args: string[]) => run(['virsh', '-c', uri, '-q', ...args], { env: { ...process.env, LC_ALL: 'C' } });
  let exited = false;
  child.on('exit', () => (exited = true));
  try {
    await waitFor(() => exited || existsSync(path.join(sock, 'libvirt-sock')), 20_000, 'libvirtd socket');
    if (exited) throw new Error(`libvirtd exited at start (see ${log})`);
    await virsh('uri');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    uri,
    dir,
    virsh,
    async stop() {
      // Guests first (a running qemu holds the daemon's dirs), then the daemon.
      const running = await virsh('list', '--name').catch(() => '');
      for (const name of running.split('\n').filter(Boolean)) await virsh('destroy', '--', name).catch(() => {});
      if (!exited) {
        child.kill('SIGTERM');
        await waitFor(() => exited, 10_000, 'libvirtd exit').catch(() => child.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A transient, running dir pool NAME at DIR. */
export async function createPool(d: Libvirtd, name: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await d.virsh('pool-create-as', name, 'dir', '--target', dir);
}

/**
 * Start the defined guest NAME through libvirt with its serial console
 * logged to DIR/console.log, until a login prompt, an initramfs ALERT or
 * emergency mode, or TIMEOUT; the console text. Only the test's own
 * plumbing changes in its definition: the serial console gets a log file,
 * a NIC on network 'default' (which a private libvirtd has not) goes to
 * user-mode networking, model kept, and where the tests run libguestfs on
 * TCG (LIBGUESTFS_BACKEND_SETTINGS=force_tcg, their default) a
 * `<domain type='kvm'>` runs as type 'qemu': on a machine whose /dev/kvm
 * exists but hangs (REFERENCE.md), libvirt would pick KVM and the guest
 * stop after its boot loader. The guest is destroyed either way.
 */
export async function bootThroughLibvirt(d: Libvirtd, name: string, dir: string, timeoutMs = 420_000): Promise<string> {
  const log = path.join(dir, 'console.log');
  const xml = (await d.virsh('dumpxml', '--inactive', '--', name))
    .replace("<serial type='pty'>", `<serial type='pty'>\n      <log file='${log}' append='off'/>`)
    .replace(/<interface type='network'>([\s\S]*?)<source network='default'\/>/g, "<interface type='user'>$1")
    .replace(/^<domain type='kvm'/, (kvm) => ((process.env.LIBGUESTFS_BACKEND_SETTINGS ?? 'force_tcg').includes('force_tcg') ? "<domain type='qemu'" : kvm));
  const file = path.join(dir, `${name}.boot.xml`);
  writeFileSync(file, xml);
  await d.virsh('define', file);
  await d.virsh('start', '--', name);
  const text = () => (existsSync(log) ? readFileSync(log, 'latin1') : '');
  try {
    await waitFor(() => /login:|ALERT!|emergency mode/i.test(text()), timeoutMs, 'the login prompt').catch(() => {});
    return text();
  } finally {
    await d.virsh('destroy', '--', name).catch(() => {});
  }
}
