// The job record's judgements (src/workdir/job-record.ts): whose process is
// alive (pid and start time, boot, host), which pidfile names a server of
// the dir, which paths of output.json are partial disks to remove.
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { processStat } from '../../../src/process/proc-stat.js';
import { nbdUnixUri } from '../../../src/process/server.js';
import { ownerAlive, partialOutputs, type JobRecord } from '../../../src/workdir/job-record.js';
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

  test('partialOutputs: the regular partial files of a checked, unfinished output.json; none for a foreign or finalized one', async ({ tmp }) => {
    await mkdir(path.join(tmp, 'out'));
    const out = await realpath(path.join(tmp, 'out'));
    const [sda, sdb] = [path.join(out, '.g-sda.v2v-partial'), path.join(out, '.g-sdb.v2v-partial')];
    await writeFile(sda, '');
    await writeFile(path.join(out, 'precious.img'), '');
    await symlink(path.join(out, 'precious.img'), sdb);
    const record = (state: string, partialA = sda) => ({
      version: 1,
      kind: 'v2v-output-state',
      state,
      options: { type: 'local', storage: out, format: 'raw', allocation: 'sparse', name: 'g' },
      disks: [
        { index: 0, final: path.join(out, 'g-sda'), partial: partialA },
        { index: 1, final: path.join(out, 'g-sdb'), partial: sdb },
      ],
      targets: [0, 1].map((i) => ({ index: i, uri: nbdUnixUri(path.join(tmp, `out${i}`)), knownZero: true })),
    });
    const save = (r: unknown) => writeFile(path.join(tmp, 'output.json'), JSON.stringify(r));
    await save(record('setup'));
    expect(partialOutputs(tmp)).toEqual([sda]); // the link is not followed
    await save(record('setup', path.join(out, 'precious.img')));
    expect(partialOutputs(tmp)).toEqual([]);
    await save(record('finalized'));
    expect(partialOutputs(tmp)).toEqual([]);
    await writeFile(path.join(tmp, 'output.json'), '{not json');
    expect(partialOutputs(tmp)).toEqual([]);
  });
});
