// The job record's judgements (src/workdir/job-record.ts): whose process is
// alive (pid and start time, boot, host), which pidfile names a server of
// the dir, which paths of output.json are partial disks to remove.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { ownerAlive, partialOutputs, processStat, recordedServer, type JobRecord } from '../../../src/workdir/job-record.js';
import { test } from '../../helpers/fixtures.js';

const self = (): JobRecord => ({
  version: 1,
  kind: 'v2v-job',
  owner: 'process',
  pid: process.pid,
  start: processStat(process.pid)!.start,
  host: os.hostname(),
  argv: [],
  cwd: '/',
  created: new Date().toISOString(),
});

describe('job record', () => {
  test('processStat reads the state and field 22 of /proc/PID/stat; no process, no stat', () => {
    const s = processStat(process.pid);
    expect(s?.state).toMatch(/^[RS]$/);
    expect(s?.start).toMatch(/^\d+$/);
    expect(processStat(2 ** 22 + 1)).toBeUndefined();
  });

  test('ownerAlive: the same pid and start time only; another boot is dead; another host cannot be judged', () => {
    expect(ownerAlive(self())).toBe(true);
    expect(ownerAlive({ ...self(), start: String(Number(self().start) + 1) })).toBe(false);
    expect(ownerAlive({ ...self(), pid: 2 ** 22 + 1 })).toBe(false);
    expect(ownerAlive({ ...self(), boot: 'another-boot' })).toBe(false);
    expect(ownerAlive({ ...self(), pid: 2 ** 22 + 1, host: `${os.hostname()}-elsewhere` })).toBe(true);
  });

  test('recordedServer: a pidfile naming a process that is not nbdkit or qemu-nbd started with it names no server', async ({ tmp }) => {
    const p = path.join(tmp, 'in0.pid');
    await writeFile(p, `${process.pid}\n`);
    expect(recordedServer(p)).toBeUndefined();
    await writeFile(p, 'garbage\n');
    expect(recordedServer(p)).toBeUndefined();
    expect(recordedServer(path.join(tmp, 'none.pid'))).toBeUndefined();
  });

  test('partialOutputs: only regular files named .NAME-sdX.v2v-partial, absolute, of an unfinished output', async ({ tmp }) => {
    const out = path.join(tmp, 'out');
    await mkdir(out);
    const good = path.join(out, '.g-sda.v2v-partial');
    const link = path.join(out, '.g-sdb.v2v-partial');
    const other = path.join(out, 'precious.img');
    await writeFile(good, '');
    await writeFile(other, '');
    await symlink(other, link);
    const state = (s: string, partials: string[]) =>
      writeFile(path.join(tmp, 'output.json'), JSON.stringify({ kind: 'v2v-output-state', state: s, disks: partials.map((partial) => ({ partial })) }));
    await state('setup', [good, link, other, '.g-sdc.v2v-partial', path.join(out, '.missing.v2v-partial')]);
    expect(partialOutputs(tmp)).toEqual([good]);
    await state('finalized', [good]);
    expect(partialOutputs(tmp)).toEqual([]);
    await writeFile(path.join(tmp, 'output.json'), '{not json');
    expect(partialOutputs(tmp)).toEqual([]);
  });
});
