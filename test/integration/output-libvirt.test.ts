// -o libvirt (issue 13) against a real libvirtd (Debian's, private to this
// file: test/helpers/libvirtd.ts): the disks become volumes of a dir pool,
// created through libvirt and filled by our copy, and the guest is defined,
// not started. Checked with virsh (dominfo, vol-list, vol-dumpxml, dumpxml)
// and by the volumes' bytes. Refusals (a domain or volume of the name, no
// pool, an inactive pool, no libvirtd, no permission, a remote URI) are one
// line, exit 1, before anything is made; a cancelled or killed job leaves no
// volume and no domain. The whole job, the engine API, `v2v batch` and the
// step subcommands all go through the one output step.
import { readdirSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import { optionsFromArgs } from '../../src/engine/from-args.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { makeRaw, processesUsing, rawAndQcow2, run, sha256File, test } from '../helpers/fixtures.js';
import { createPool, libvirtdMissing, startLibvirtd, type Libvirtd } from '../helpers/libvirtd.js';
import { slowJob } from '../helpers/slow-job.js';
import { has } from '../helpers/tools.js';

const needs = libvirtdMissing() !== undefined || !has('nbdkit') || !has('qemu-img') || !has('virsh');

/** The domain type libvirt offers x86_64 guests here: kvm where /dev/kvm works, else qemu (TCG). */
async function expectedType(d: Libvirtd): Promise<'kvm' | 'qemu'> {
  const caps = await d.virsh('capabilities');
  const guest = (caps.match(/<guest>[\s\S]*?<\/guest>/g) ?? []).find((g) => /<arch name='x86_64'>/.test(g)) ?? '';
  return /<domain type='kvm'/.test(guest) ? 'kvm' : 'qemu';
}

/** Warnings other than the one a machine without KVM gives. */
const otherStderr = (stderr: string) => stderr.split('\n').filter((l) => l && !/does not support a x86_64 KVM guest/.test(l));

describe.skipIf(needs)('-o libvirt', () => {
  let d: Libvirtd;
  let n = 0;
  /** A new running dir pool in TMP: its name and directory. */
  const pool = async (tmp: string) => {
    const name = `p${++n}`;
    const dir = path.join(tmp, name);
    await createPool(d, name, dir);
    return { name, dir };
  };
  const domains = async () => (await d.virsh('list', '--all', '--name')).split('\n').filter(Boolean).sort();
  const volumes = async (p: string) => (await d.virsh('vol-list', '--pool', p)).split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[0]).sort();

  beforeAll(async () => {
    d = await startLibvirtd();
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
  });

  test('two disks become volumes of the pool, the guest is defined (shut off) with its disks as those volumes', async ({ tmp }) => {
    const { a, b, sums } = await rawAndQcow2(tmp);
    const p = await pool(tmp);
    const work = path.join(tmp, 'work');
    await mkdir(work);
    const r = await runCli(['-i', 'disk', a, b, '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', 'web1', '--no-convert', '-q'], { env: { TMPDIR: work } });
    expect(otherStderr(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(await domains()).toEqual(['web1']);
    expect(await d.virsh('dominfo', 'web1')).toMatch(/^State:\s+shut off$/m);
    expect(await volumes(p.name)).toEqual(['web1-sda', 'web1-sdb']);
    expect((await readdir(p.dir)).sort()).toEqual(['web1-sda', 'web1-sdb']);
    expect(await sha256File(path.join(p.dir, 'web1-sda'))).toBe(sums[0]);
    expect(await sha256File(path.join(p.dir, 'web1-sdb'))).toBe(sums[1]);
    expect(await d.virsh('vol-dumpxml', '--pool', p.name, 'web1-sda')).toMatch(/<format type='raw'\/>/);
    const xml = await d.virsh('dumpxml', 'web1');
    expect(xml).toContain(`<domain type='${await expectedType(d)}'`);
    expect(xml).toMatch(/<disk type='volume' device='disk'>\s*<driver name='qemu' type='raw'\/>\s*<source pool='p\d+' volume='web1-sda'\/>\s*<target dev='vda' bus='virtio'\/>/);
    expect(xml).toMatch(/<source pool='p\d+' volume='web1-sdb'\/>\s*<target dev='vdb' bus='virtio'\/>/);
    expect(xml).toMatch(/<interface type='network'>[\s\S]*?<source network='default'\/>[\s\S]*?<model type='virtio'\/>/);
    expect(xml).toContain("<type arch='x86_64' machine='pc-q35");
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });

  test('-of qcow2 -oa preallocated: qcow2 volumes, preallocated, the same data', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 3);
    const p = await pool(tmp);
    const r = await runCli(['-i', 'disk', a, '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', 'db', '-of', 'qcow2', '-oa', 'preallocated', '--no-convert', '-q']);
    expect(otherStderr(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(await d.virsh('vol-dumpxml', '--pool', p.name, 'db-sda')).toMatch(/<format type='qcow2'\/>/);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', a, path.join(p.dir, 'db-sda')]);
    const info = JSON.parse(await run(['qemu-img', 'info', '--output=json', path.join(p.dir, 'db-sda')])) as { 'actual-size': number; 'virtual-size': number };
    expect(info['actual-size']).toBeGreaterThanOrEqual(info['virtual-size']);
    expect(await d.virsh('dumpxml', 'db')).toMatch(/<driver name='qemu' type='qcow2'\/>\s*<source pool='p\d+' volume='db-sda'\/>/);
  });

  test('refused in one line before anything is made: the domain or a volume exists, no pool, an inactive pool, a remote or non-QEMU URI, -oc elsewhere', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 4, 4);
    const p = await pool(tmp);
    await writeFile(path.join(tmp, 'taken.xml'), "<domain type='qemu'><name>taken</name><memory>65536</memory><os><type>hvm</type></os></domain>");
    await d.virsh('define', path.join(tmp, 'taken.xml'));
    await d.virsh('vol-create-as', p.name, 'held-sdb', '1M');
    await mkdir(path.join(tmp, 'idle'));
    await d.virsh('pool-define-as', `${p.name}-idle`, 'dir', '--target', path.join(tmp, 'idle'));
    const cli = (...extra: string[]) => runCli(['-i', 'disk', a, '-o', 'libvirt', '--no-convert', ...extra]);
    const before = await domains();
    expectOneError(await cli('-oc', d.uri, '-os', p.name, '-on', 'taken'), "-o libvirt: a libvirt domain called ‘taken’ already exists on the target");
    expectOneError(await cli('-oc', d.uri, '-os', p.name, '-on', 'held'), `-o libvirt: output pool ‘${p.name}’ already holds held-sdb`);
    expectOneError(await cli('-oc', d.uri, '-os', 'nopool', '-on', 'x'), "-o libvirt: output pool ‘nopool’: failed to get pool 'nopool'");
    expectOneError(await cli('-oc', d.uri, '-os', `${p.name}-idle`, '-on', 'x'), `output pool ‘${p.name}-idle’ is not active`);
    expectOneError(await cli('-oc', 'qemu+ssh://root@host.invalid/system', '-on', 'x'), '-o libvirt: qemu+ssh://root@host.invalid/system is a remote libvirt');
    expectOneError(await cli('-oc', 'test:///default', '-on', 'x'), 'test:///default is not a QEMU/KVM connection');
    expectOneError(await cli('-oc', 'esx://root@esx1', '-on', 'x'), 'VMware vCenter/ESXi output');
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'local', '-os', tmp, '-oc', d.uri, '--no-convert']), '-oc: only for -o libvirt, not -o local');
    expect(await domains()).toEqual(before);
    expect(await volumes(p.name)).toEqual(['held-sdb']);
    const help = await runCli(['-o', 'libvirt', '-oo', '?']);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe('Output options that can be used with -o libvirt:\n  -oo compressed      Compress the output file (used only with -of qcow2)\n');
  });

  test('no libvirtd, no permission (a read-only socket): one line, exit 1, no volume and no domain left', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 4, 5);
    const p = await pool(tmp);
    const gone = `qemu:///system?socket=${path.join(tmp, 'no-such-sock')}`;
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'libvirt', '-oc', gone, '-on', 'x', '--no-convert']), '-o libvirt: cannot connect to libvirt: failed to connect to the hypervisor');
    // The read-only socket passes the checks (they only read) and fails at the first volume.
    const ro = d.uri.replace('libvirt-sock', 'libvirt-sock-ro');
    const before = await domains();
    // A failed job keeps its log dir (its error names it): in TMPDIR, here a dir of the test's.
    const logsIn = path.join(tmp, 'failed-job');
    await mkdir(logsIn);
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'libvirt', '-oc', ro, '-os', p.name, '-on', 'ro', '--no-convert', '-q'], { env: { TMPDIR: logsIn } }), 'cannot create volume ‘ro-sda’');
    expect(await volumes(p.name)).toEqual([]);
    expect(await readdir(p.dir)).toEqual([]);
    expect(await domains()).toEqual(before);
  });

  /** Run the slow job to -o libvirt and send SIG once its copy is under way; the volumes seen then, and the result. */
  async function interrupted(tmp: string, nbdkit: Parameters<typeof slowJob>[1], name: string, sig: NodeJS.Signals) {
    const s = await slowJob(tmp, nbdkit);
    const p = await pool(tmp);
    let pid = 0;
    let seen: string[] = [];
    const r = await runCli([...s.input, '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', name, '--no-convert', '--machine-readable'], {
      env: { TMPDIR: s.work },
      onSpawn: (x) => (pid = x),
      onStdout: (chunk) => {
        if (pid && chunk.includes('"copy.progress"')) {
          seen = readdirSync(p.dir);
          process.kill(pid, sig);
          pid = 0;
        }
      },
    });
    expect(seen, 'the copy got under way into its volume').toEqual([`${name}-sda`]);
    return { s, p, r };
  }

  test('cancelled while copying (SIGINT): its volume is deleted and no domain is defined', { timeout: 60_000 }, async ({ tmp, nbdkit }) => {
    const { s, p, r } = await interrupted(tmp, nbdkit, 'slow', 'SIGINT');
    expect(r.code, r.stderr).toBe(130);
    expect(await volumes(p.name)).toEqual([]);
    expect(await readdir(p.dir)).toEqual([]);
    expect(await domains()).not.toContain('slow');
    expect(await readdir(s.work)).toEqual([]);
  });

  test('killed while copying (SIGKILL): `v2v cleanup --stale` deletes the volume, libvirt forgets it', { timeout: 60_000 }, async ({ tmp, nbdkit }) => {
    const { s, p, r } = await interrupted(tmp, nbdkit, 'crash', 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    expect(await volumes(p.name)).toEqual(['crash-sda']);
    const c = await runCli(['cleanup', '--stale'], { env: { TMPDIR: s.work } });
    expect(c.code, c.stderr).toBe(0);
    expect(await readdir(p.dir)).toEqual([]);
    expect(await volumes(p.name)).toEqual([]);
    expect(await domains()).not.toContain('crash');
    expect(await readdir(s.work)).toEqual([]);
  });

  test('the engine API, v2v batch and the step subcommands define the same guest', { timeout: 120_000 }, async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 6);
    const sum = await sha256File(a);
    const p = await pool(tmp);
    const engine = createEngine();
    try {
      await engine.convert(optionsFromArgs(['-i', 'disk', a, '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', 'api', '--no-convert']));
    } finally {
      await engine.close();
    }
    const plan = path.join(tmp, 'plan.json');
    await writeFile(plan, JSON.stringify({ guests: [{ id: 'b', args: ['-i', 'disk', 'a.img', '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', 'batch', '--no-convert'] }] }));
    const b = await runCli(['batch', plan]);
    expect(b.code, b.stderr).toBe(0);
    const dir = path.join(tmp, 'wd');
    const step = async (...args: string[]) => {
      const r = await runCli(args);
      expect(otherStderr(r.stderr), args.join(' ')).toEqual([]);
      expect(r.code).toBe(0);
      return r.stdout;
    };
    await step('input', '-i', 'disk', a, '--workdir', dir);
    await step('convert', dir, '--no-convert');
    const pairs = await step('output', 'setup', dir, '-o', 'libvirt', '-oc', d.uri, '-os', p.name, '-on', 'steps');
    for (const line of pairs.trim().split('\n')) {
      const [src, dst] = line.split(' ');
      await step('copy', src!, dst!, '--target-is-zero');
    }
    const files = await step('output', 'finalize', dir);
    expect(files.trim().split('\n')).toEqual([path.join(p.dir, 'steps-sda')]);
    await step('cleanup', dir);
    for (const g of ['api', 'batch', 'steps']) {
      expect(await d.virsh('dumpxml', g)).toContain(`<source pool='${p.name}' volume='${g}-sda'/>`);
      expect(await sha256File(path.join(p.dir, `${g}-sda`))).toBe(sum);
    }
    expect(await volumes(p.name)).toEqual(['api-sda', 'batch-sda', 'steps-sda']);
  });
});
