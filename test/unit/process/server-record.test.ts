// Which process a work dir's pidfile may be taken for (src/process/server-record.ts):
// only the server we started, known by pid, start time and the socket on its
// command line. A reused pid of an unrelated nbdkit is never signalled.
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { recordedServer, serverRecordPath, stopByPidfile } from '../../../src/process/server-record.js';
import { startNbdkit } from '../../../src/process/server.js';
import { test } from '../../helpers/fixtures.js';
import { running } from '../../../src/process/proc-stat.js';
import { waitFor } from '../../helpers/tools.js';

describe('server records', () => {
  test('a server we started is ours: pid, start time and socket recorded; stopByPidfile stops it and removes its records', async ({ tmp }) => {
    const s = await startNbdkit(['memory', '1M'], { dir: tmp, name: 'in0', socket: path.join(tmp, 'in0'), detach: true });
    const pidfile = path.join(tmp, 'in0.pid');
    const record = JSON.parse(await readFile(serverRecordPath(pidfile), 'utf8'));
    expect(record).toMatchObject({ kind: 'v2v-server', pid: s.pid, socket: path.join(tmp, 'in0') });
    expect(recordedServer(pidfile)).toBe(s.pid);
    expect(await stopByPidfile(pidfile, 2000)).toBe(true);
    expect(running(s.pid)).toBe(false);
    expect(() => readFileSync(pidfile)).toThrow();
    expect(() => readFileSync(serverRecordPath(pidfile))).toThrow();
  });

  test('a pidfile holding the pid of an unrelated nbdkit: not ours, left running', async ({ tmp, nbdkit }) => {
    const other = await nbdkit(['memory', '1M'], { name: 'unrelated' });
    await mkdir(path.join(tmp, 'w'), { mode: 0o700 });
    const pidfile = path.join(tmp, 'w', 'in0.pid');
    await writeFile(pidfile, `${other.pid}\n`);
    expect(recordedServer(pidfile)).toBeUndefined();
    expect(await stopByPidfile(pidfile, 500)).toBe(false);
    expect(running(other.pid)).toBe(true);
  });

  test('a record whose start time or socket does not match the process: not ours', async ({ tmp }) => {
    const s = await startNbdkit(['memory', '1M'], { dir: tmp, name: 'out0', socket: path.join(tmp, 'out0'), detach: true });
    const pidfile = path.join(tmp, 'out0.pid');
    const good = JSON.parse(await readFile(serverRecordPath(pidfile), 'utf8'));
    try {
      await writeFile(serverRecordPath(pidfile), JSON.stringify({ ...good, start: String(Number(good.start) + 1) }));
      expect(recordedServer(pidfile)).toBeUndefined();
      await writeFile(serverRecordPath(pidfile), JSON.stringify({ ...good, socket: path.join(tmp, 'elsewhere') }));
      expect(recordedServer(pidfile)).toBeUndefined();
      expect(await stopByPidfile(pidfile, 500)).toBe(false);
      expect(running(s.pid)).toBe(true);
    } finally {
      process.kill(s.pid, 'SIGKILL');
      await waitFor(() => !running(s.pid), 5000, 'the server to go');
    }
  });
});
