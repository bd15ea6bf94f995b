// The conversion's disks are private (issue 9, section 1). virt-v2v-in-place
// 2.2 reads the overlays only through loopback TCP ports (nbdkit proxies); on
// the host's loopback any local user could read the guest's disks through
// them and write into the overlay that becomes the output. The proxies and
// virt-v2v-in-place therefore run in a network namespace of their own: during
// a conversion, no port that a process of the job listens on in the host's
// namespace lets another user (`nobody`) read or write a byte, while inside
// the job's namespace the proxies do listen and serve the disk. Where no
// private namespace can be made, the conversion is refused with one line.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, makeRaw, processesUsing, sha256File } from '../helpers/fixtures.js';
import { has, waitFor } from '../helpers/tools.js';
import { repoRoot, runCli } from '../helpers/cli.js';

const NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'];
const canSetpriv = has('setpriv') && spawnSync(NOBODY[0]!, [...NOBODY.slice(1), 'true']).status === 0;
const needs = !has('nbdkit') || !has('nbdinfo') || !has('unshare') || !canSetpriv || process.getuid?.() !== 0;

/** Every descendant of ROOT (and ROOT), from /proc's parent links. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function netns(pid: number | 'self'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

/** Socket inodes held open by PID. */
function sockets(pid: number): Set<string> {
  const s = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) s.add(m[1]!);
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    // Gone.
  }
  return s;
}

interface Listener {
  port: number;
  inode: string;
}

/** TCP sockets listening in the network namespace of PID (self: the host's, where this test runs). */
function listeners(pid: number | 'self'): Listener[] {
  const out: Listener[] = [];
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || c[3] !== '0A') continue; // 0A: LISTEN
      out.push({ port: parseInt(c[1]!.split(':')[1]!, 16), inode: c[9]! });
    }
  }
  return out;
}

/** As `nobody`: ARGV's status and output (never run long). */
function asNobody(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), ...argv], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A TCP client as `nobody`: whether it connected to 127.0.0.1:PORT and how many bytes it got. */
const CLIENT = `
const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1');
let got = 0;
s.on('connect', () => { s.write(Buffer.from('NBDMAGIC')); setTimeout(() => { console.log(JSON.stringify({ connected: true, got })); process.exit(0); }, 1000); });
s.on('data', (d) => (got += d.length));
s.on('error', (e) => { console.log(JSON.stringify({ connected: false, error: e.code })); process.exit(0); });
`;

describe.skipIf(needs)('convert: the disks are reachable only inside the conversion', () => {
  test.skipIf(!has('virt-v2v-in-place'))(
    "no TCP port of the job lets another user read or write; the proxies listen in the job's own namespace",
    { timeout: 300_000 },
    async ({ tmp }) => {
      const work = path.join(tmp, 'work');
      const out = path.join(tmp, 'out');
      const logs = path.join(tmp, 'logs');
      await mkdir(work);
      await mkdir(out);
      // Not a guest: virt-v2v-in-place works on it for about a minute under
      // TCG (its appliance starts, inspection finds nothing) and fails.
      const a = path.join(tmp, 'a.img');
      await makeRaw(a, 8, 4);
      const before = await sha256File(a);
      const hostNs = netns('self');
      let cli = 0;
      let done = false;
      const p = runCli(['-i', 'disk', a, '-o', 'local', '-os', out, '--log-dir', logs], {
        env: { TMPDIR: work, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' },
        onSpawn: (pid) => (cli = pid),
      }).finally(() => (done = true));

      // Once virt-v2v-in-place runs (and the proxies with it).
      let pids: number[] = [];
      await waitFor(
        () => {
          if (done) throw new Error('the job ended before virt-v2v-in-place was seen running');
          pids = cli ? tree(cli) : [];
          return pids.some((pid) => comm(pid).startsWith('virt-v2v-in-pl'));
        },
        120_000,
        'virt-v2v-in-place',
      );
      const seen: {
        hostPorts: number[];
        reached: string[];
        namespaces: string[];
        nsPorts: number[];
        nsServes: string;
        nobodyEnters: number | null;
      } = { hostPorts: [], reached: [], namespaces: [], nsPorts: [], nsServes: '', nobodyEnters: null };

      // The host's view: every listening socket a process of the job holds.
      const held = new Set<string>();
      for (const pid of pids) for (const s of sockets(pid)) held.add(s);
      const hostListeners = listeners('self');
      seen.hostPorts = [...new Set(hostListeners.filter((l) => held.has(l.inode)).map((l) => l.port))];
      // The job's own namespace: the proxies listen there.
      const inNs = pids.filter((pid) => netns(pid) !== '' && netns(pid) !== hostNs);
      seen.namespaces = [...new Set(inNs.map((pid) => netns(pid)))];
      if (inNs.length) {
        const nsHeld = new Set<string>();
        for (const pid of inNs) for (const s of sockets(pid)) nsHeld.add(s);
        seen.nsPorts = [...new Set(listeners(inNs[0]!).filter((l) => nsHeld.has(l.inode)).map((l) => l.port))];
        if (seen.nsPorts.length) {
          const uri = `nbd://127.0.0.1:${seen.nsPorts[0]}`;
          // root, inside the namespace, reads the disk's size through the proxy...
          const r = spawnSync('nsenter', [`--net=/proc/${inNs[0]}/ns/net`, '--', 'nbdinfo', '--size', uri], { encoding: 'utf8', timeout: 15_000 });
          seen.nsServes = (r.stdout ?? '').trim();
          // ... nobody cannot enter it.
          seen.nobodyEnters = asNobody(['nsenter', `--net=/proc/${inNs[0]}/ns/net`, '--', 'nbdinfo', '--size', uri]).status;
        }
      }
      // nobody, on the host's loopback, tries every port the job listens on,
      // in the host's namespace or in its own (the same number on the host's
      // loopback must not lead to it either); a port some other program
      // holds on the host is not the job's and is left alone.
      const foreign = new Set(hostListeners.filter((l) => !held.has(l.inode)).map((l) => l.port));
      for (const port of new Set([...seen.hostPorts, ...seen.nsPorts])) {
        if (foreign.has(port)) continue;
        const info = asNobody(['nbdinfo', '--size', `nbd://127.0.0.1:${port}`]);
        if (info.status === 0 || info.stdout.trim()) seen.reached.push(`${port}: nbdinfo read the disk: ${info.stdout.trim()}`);
        // (A node that nobody cannot run answers nothing: nbdinfo above still probes.)
        const tcp = asNobody([process.execPath, '-e', CLIENT, String(port)]);
        const t = JSON.parse(tcp.stdout.trim() || '{}') as { connected?: boolean; got?: number };
        if (t.connected === true) seen.reached.push(`${port}: a TCP client connected (${tcp.stdout.trim()}${tcp.stderr.trim()})`);
      }

      const r = await p;
      expect(seen.reached, 'ports of the job another user reached').toEqual([]);
      expect(seen.hostPorts, "ports the job listens on in the host's network namespace").toEqual([]);
      expect(seen.namespaces, 'the conversion runs in one network namespace of its own').toHaveLength(1);
      expect(seen.nsPorts, 'the proxy listens inside it').toEqual([10809]);
      expect(seen.nsServes, 'and serves the disk there').toBe(String(8 * 1024 * 1024));
      expect(seen.nobodyEnters, 'nobody cannot enter the namespace').not.toBe(0);
      // The conversion really ran: virt-v2v-in-place's own error about this disk.
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^v2v: error: convert: .*inspection could not detect the source guest/);
      const log = await readFile(path.join(logs, 'convert.log'), 'utf8');
      expect(log).toContain('convert: in a private network namespace');
      expect(log).toContain(`v2v-netns-run: network namespace ${seen.namespaces[0]} (only lo), proxies listening: convert-proxy0=127.0.0.1:10809`);
      expect(await readdir(out)).toEqual([]);
      expect(await sha256File(a)).toBe(before);
      expect(processesUsing(work)).toEqual([]);
    },
  );

  test('no private network namespace: the conversion is refused with one line, nothing is exposed', async ({ tmp }) => {
    // An unshare that fails as it does without CAP_SYS_ADMIN or user namespaces.
    const fake = path.join(tmp, 'fakebin');
    await mkdir(fake);
    await writeFile(path.join(fake, 'unshare'), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n');
    await chmod(path.join(fake, 'unshare'), 0o755);
    const work = path.join(tmp, 'work');
    const logs = path.join(tmp, 'logs');
    await mkdir(work);
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 4);
    const r = await runCli(['-i', 'disk', a, '-o', 'null', '--log-dir', logs], {
      env: { TMPDIR: work, PATH: `${fake}:${process.env.PATH}` },
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^v2v: error: convert: refusing to convert: cannot make a private network namespace \(unshare --net: .*Operation not permitted.*loopback TCP ports/);
    // Nothing of the conversion ran: no proxy, no virt-v2v-in-place.
    const log = await readFile(path.join(logs, 'convert.log'), 'utf8');
    expect(log).not.toContain('in a private network namespace');
    expect(log).not.toContain('"msg":"virt-v2v-in-place"');
    expect(readdirSync(work).flatMap((d) => (d.startsWith('v2v-log') ? [] : [d]))).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });

  // A non-root user gets the namespace from an unprivileged user namespace,
  // where the kernel allows one; the program runs as that user again.
  const userns = canSetpriv && spawnSync(NOBODY[0]!, [...NOBODY.slice(1), 'unshare', '--user', '--map-root-user', '--net', '--', 'true']).status === 0;
  test.skipIf(!userns)('as a non-root user: a user namespace, the proxy inside, the program as that user', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'v2v-userns-'));
    try {
      chownSync(dir, 65534, 65534);
      const sock = path.join(dir, 'mem.sock');
      const pidfile = path.join(dir, 'mem.pid');
      expect(asNobody(['nbdkit', '--unix', sock, '--pidfile', pidfile, 'memory', '1M']).status).toBe(0);
      await waitFor(() => {
        try {
          return statSync(pidfile).size > 0;
        } catch {
          return false;
        }
      });
      try {
        const hostNs = String(statSync('/proc/self/ns/net').ino);
        const launcher = path.join(repoRoot, 'bin', 'netns-run.sh');
        const uri = 'nbd://localhost:10809';
        const inside = asNobody([
          'unshare', '--user', '--map-root-user', '--net', '--', 'bash', launcher, hostNs, dir, '--as', '65534:65534',
          '--proxy', 'p0', sock, '10809', '--', 'nbdinfo', '--size', uri,
        ]);
        expect(inside.stderr).toContain('proxies listening: p0=127.0.0.1:10809');
        expect(inside.status).toBe(0);
        expect(inside.stdout.trim()).toBe('1048576');
        const id = asNobody(['unshare', '--user', '--map-root-user', '--net', '--', 'bash', launcher, hostNs, dir, '--as', '65534:65534', '--', 'id', '-u']);
        expect(id.stdout.trim()).toBe('65534');
      } finally {
        process.kill(Number(readFileSync(pidfile, 'utf8').trim()), 'SIGTERM');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
