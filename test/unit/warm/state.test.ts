// The warm state file (src/warm/state.ts): what a later round trusts is
// checked whole (version, kind, options), written atomically with mode 0600,
// and never overwritten by a second begin.
import { stat, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test } from '../../helpers/fixtures.js';
import { rejectionOf } from '../../helpers/tools.js';
import { checkNewState, readWarmState, writeWarmState, type WarmState } from '../../../src/warm/state.js';
import { parseJobOptions } from '../../../src/engine/options.js';

const state = (): WarmState => ({
  version: 1,
  kind: 'v2v-warm',
  state: 'synced',
  options: parseJobOptions({ input: { type: 'disk', files: ['/d/a.img'] }, output: { type: 'local', storage: '/d/out' } }),
  dir: '/tmp/v2v-x',
  name: 'a',
  disks: [{ index: 0, size: 1024 }],
  rounds: [{ n: 0, kind: 'begin', started: 't0', finished: 't1', seconds: 1, bytesChanged: 1024, bytesRead: 512 }],
});

describe('warm state file', () => {
  test('written 0600 and atomically (no temp file left), read back equal', async ({ tmp }) => {
    const f = path.join(tmp, 's.json');
    await writeWarmState(f, state());
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    expect(await readdir(tmp)).toEqual(['s.json']);
    expect(await readWarmState(f)).toEqual(state());
  });

  test('a file of another kind or version, or not JSON, is refused in one line naming it', async ({ tmp }) => {
    const f = path.join(tmp, 's.json');
    await writeFile(f, JSON.stringify({ ...state(), version: 2 }));
    expect((await rejectionOf(readWarmState(f))).message).toMatch(/^--state .*s\.json: not a warm migration state \(version 1\): version/);
    await writeFile(f, '{');
    expect((await rejectionOf(readWarmState(f))).message).toMatch(/s\.json: not JSON$/);
    expect((await rejectionOf(readWarmState(path.join(tmp, 'none.json')))).message).toMatch(/no such file \(run v2v warm begin first\)/);
  });

  test('begin never overwrites an existing state file', async ({ tmp }) => {
    const f = path.join(tmp, 's.json');
    await checkNewState(f);
    await writeFile(f, '{}');
    expect((await rejectionOf(checkNewState(f))).message).toMatch(/already exists/);
  });
});
