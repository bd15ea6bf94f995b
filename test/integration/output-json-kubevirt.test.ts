// -o json and -o kubevirt (issue 13): the disks and NAME.json or NAME.yaml in
// -os DIR, through the whole job (a guest copied as it is, --no-convert, so
// no appliance runs), the step subcommands and the engine API; the JSON
// parsed back with its schema, the YAML with a YAML library, field by field
// against KubeVirt's VirtualMachine API. Bad options are refused in one
// line before anything starts.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createEngine } from '../../src/engine/engine.js';
import { optionsFromArgs } from '../../src/engine/from-args.js';
import { OutputJson } from '../../src/steps/output/json-metadata.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { makeRaw, processesUsing, rawAndQcow2, run, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

const needs = !has('nbdkit') || !has('qemu-img');

const guest = rawAndQcow2;

describe.skipIf(needs)('-o json', () => {
  test('two disks and NAME.json (virt-v2v -o json version 1), parsed with its schema', async ({ tmp }) => {
    const g = await guest(tmp);
    const out = path.join(tmp, 'out');
    const work = path.join(tmp, 'work');
    await mkdir(out);
    await mkdir(work);
    const r = await runCli(['-i', 'disk', g.a, g.b, '-o', 'json', '-os', out, '-on', 'web1', '--no-convert', '-q'], { env: { TMPDIR: work } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['web1-sda', 'web1-sdb', 'web1.json']);
    expect(await sha256File(path.join(out, 'web1-sda'))).toBe(g.sums[0]);
    expect(await sha256File(path.join(out, 'web1-sdb'))).toBe(g.sums[1]);
    const doc = OutputJson.parse(JSON.parse(await readFile(path.join(out, 'web1.json'), 'utf8')));
    expect(doc).toMatchObject({ version: 1, name: 'web1', vcpu: 1, firmware: { type: 'bios' }, machine: 'q35', removables: [], inspect: null });
    expect(doc.memory).toBeGreaterThan(0);
    expect(doc.disks).toEqual([
      { dev: 'vda', bus: 'virtio', format: 'raw', file: path.join(out, 'web1-sda') },
      { dev: 'vdb', bus: 'virtio', format: 'raw', file: path.join(out, 'web1-sdb') },
    ]);
    expect(doc.guestcaps).toEqual({ 'block-bus': 'virtio-blk', 'net-bus': 'virtio-net', machine: 'q35', arch: 'x86_64' });
    expect(await readdir(work)).toEqual([]);
    expect(processesUsing(work)).toEqual([]);
  });

  test('-oo json-disks-pattern names the disks; -oo ? lists it', async ({ tmp }) => {
    const g = await guest(tmp);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const r = await runCli(['-i', 'disk', g.a, g.b, '-o', 'json', '-os', out, '-on', 'db', '-oo', 'json-disks-pattern=disk%{DiskNo}-%{GuestName}.img', '-of', 'qcow2', '--no-convert', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['db.json', 'disk1-db.img', 'disk2-db.img']);
    await run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', g.a, path.join(out, 'disk1-db.img')]);
    const doc = OutputJson.parse(JSON.parse(await readFile(path.join(out, 'db.json'), 'utf8')));
    expect(doc.disks.map((d) => [d.file, d.format])).toEqual([
      [path.join(out, 'disk1-db.img'), 'qcow2'],
      [path.join(out, 'disk2-db.img'), 'qcow2'],
    ]);
    // A second run would overwrite: refused before anything starts.
    expectOneError(await runCli(['-i', 'disk', g.a, '-o', 'json', '-os', out, '-on', 'db', '-oo', 'json-disks-pattern=disk%{DiskNo}-%{GuestName}.img', '--no-convert']), 'disk1-db.img', 'already exist');
    const help = await runCli(['-o', 'json', '-oo', '?']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-oo json-disks-pattern=PATTERN');
  });

  test('bad patterns and options are refused in one line, nothing written', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 4, 3);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const cli = (...extra: string[]) => runCli(['-i', 'disk', a, '-o', 'json', '-os', out, '--no-convert', ...extra]);
    expectOneError(await cli('-oo', 'json-disks-pattern=%{Nope}-x'), 'json-disks-pattern=%{Nope}-x: unhandled variable %{Nope}');
    expectOneError(await cli('-oo', 'json-disks-pattern=sub/%{DiskNo}'), 'no "/"');
    expectOneError(await cli('-oo', 'json-disks-pattern=%{GuestName}.img'), 'every disk would get the same name');
    expectOneError(await cli('-oo', 'json-disks-pattern=a%{DiskNo}', '-oo', 'json-disks-pattern=b%{DiskNo}'), 'set more than once');
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'local', '-os', out, '-oo', 'json-disks-pattern=x%{DiskNo}', '--no-convert']), 'unknown output option');
    expect(await readdir(out)).toEqual([]);
  });
});

describe.skipIf(needs)('-o kubevirt', () => {
  test('the disks and a VirtualMachine YAML, checked field by field against the KubeVirt API', async ({ tmp }) => {
    const g = await guest(tmp);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const r = await runCli(['-i', 'disk', g.a, g.b, '-o', 'kubevirt', '-os', out, '-on', 'vm-1', '--no-convert', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['vm-1-sda', 'vm-1-sdb', 'vm-1.yaml']);
    expect(await sha256File(path.join(out, 'vm-1-sdb'))).toBe(g.sums[1]);
    const text = await readFile(path.join(out, 'vm-1.yaml'), 'utf8');
    expect(text).toMatch(/^# generated by v2v /);
    const vm = parseYaml(text) as Record<string, any>;
    expect(vm.apiVersion).toBe('kubevirt.io/v1');
    expect(vm.kind).toBe('VirtualMachine');
    expect(vm.metadata.name).toBe('vm-1');
    expect(vm.spec.runStrategy).toBe('Halted');
    const spec = vm.spec.template.spec;
    expect(spec.domain.cpu).toEqual({ cores: 1, sockets: 1, threads: 1 });
    expect(spec.domain.memory.guest).toMatch(/^\d+Mi$/);
    expect(spec.domain.firmware).toEqual({ bootloader: { bios: {} } });
    expect(spec.domain.machine).toEqual({ type: 'q35' });
    expect(spec.domain.devices.disks).toEqual([
      { name: 'disk-0', disk: { bus: 'virtio' } },
      { name: 'disk-1', disk: { bus: 'virtio' } },
    ]);
    expect(spec.volumes).toEqual([
      { name: 'disk-0', hostDisk: { path: path.join(out, 'vm-1-sda'), type: 'Disk' } },
      { name: 'disk-1', hostDisk: { path: path.join(out, 'vm-1-sdb'), type: 'Disk' } },
    ]);
    // One NIC (-i disk's default): on the pod network, masquerade.
    expect(spec.domain.devices.interfaces).toEqual([{ name: 'net-0', model: 'virtio', masquerade: {} }]);
    expect(spec.networks).toEqual([{ name: 'net-0', pod: {} }]);
    // Every device names a volume or network that exists.
    const volumes = new Set(spec.volumes.map((v: { name: string }) => v.name));
    for (const d of spec.domain.devices.disks) expect(volumes.has(d.name)).toBe(true);
  });

  test('a name Kubernetes refuses, or -of qcow2, is refused before anything starts', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 4, 4);
    const out = path.join(tmp, 'out');
    await mkdir(out);
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'kubevirt', '-os', out, '-on', 'Web_1', '--no-convert']), 'not a valid Kubernetes name');
    expectOneError(await runCli(['-i', 'disk', a, '-o', 'kubevirt', '-os', out, '-on', 'web', '-of', 'qcow2', '--no-convert']), '-of raw');
    expect(await readdir(out)).toEqual([]);
  });

  test('the step subcommands and the engine API write the same', async ({ tmp }) => {
    const a = path.join(tmp, 'a.img');
    await makeRaw(a, 8, 5);
    // Engine API.
    const apiOut = path.join(tmp, 'api');
    await mkdir(apiOut);
    const engine = createEngine();
    try {
      await engine.convert(optionsFromArgs(['-i', 'disk', a, '-o', 'kubevirt', '-os', apiOut, '-on', 'api', '--no-convert']));
    } finally {
      await engine.close();
    }
    expect((await readdir(apiOut)).sort()).toEqual(['api-sda', 'api.yaml']);
    // Steps: input, convert (no conversion), output setup, copy, output finalize, cleanup.
    const dir = path.join(tmp, 'wd');
    const stepOut = path.join(tmp, 'steps');
    await mkdir(stepOut);
    const step = async (...args: string[]) => {
      const r = await runCli(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code).toBe(0);
      return r.stdout;
    };
    await step('input', '-i', 'disk', a, '--workdir', dir);
    await step('convert', dir, '--no-convert');
    const pairs = await step('output', 'setup', dir, '-o', 'json', '-os', stepOut, '-on', 'steps');
    for (const line of pairs.trim().split('\n')) {
      const [src, dst] = line.split(' ');
      await step('copy', src!, dst!, '--target-is-zero');
    }
    await step('output', 'finalize', dir);
    await step('cleanup', dir);
    expect((await readdir(stepOut)).sort()).toEqual(['steps-sda', 'steps.json']);
    expect(await sha256File(path.join(stepOut, 'steps-sda'))).toBe(await sha256File(a));
    OutputJson.parse(JSON.parse(await readFile(path.join(stepOut, 'steps.json'), 'utf8')));
  });
});
