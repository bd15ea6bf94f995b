// The addon loads, and worker files load the way they will in production:
// under vitest the pool runs src/workers/*.ts through tsx; the built CLI runs
// dist/src/workers/*.js. Both are exercised here (settled once, issue 2).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { libnbdVersion, nativeStats } from '../../src/nbd/handle.js';
import { createPool, destroyPool, workerFile } from '../../src/workers/pool.js';
import { repoRoot } from '../helpers/cli.js';
import { runCli } from '../helpers/cli.js';

describe('010 load', () => {
  it('loads the addon and reports libnbd 1.14 or later', () => {
    expect(libnbdVersion).toMatch(/^1\.(1[4-9]|[2-9]\d)\./);
    expect(nativeStats()).toEqual({ handles: 0, copiers: 0 });
  });

  it('resolves worker files to .ts with the tsx loader under vitest', () => {
    const w = workerFile('copy-worker');
    expect(w.filename).toMatch(/src\/workers\/copy-worker\.ts$/);
    expect(w.execArgv).toEqual(['--import', 'tsx']);
  });

  it('runs a copy worker from source under vitest', async () => {
    const pool = createPool('copy-worker', { maxThreads: 1 });
    try {
      // A malformed task must come back as a typed failure, not a crash.
      const r = (await pool.run({ type: 'copy.start' })) as { type: string; error: { name: string } };
      expect(r.type).toBe('copy.failed');
      expect(r.error.name).toBe('ZodError');
    } finally {
      await pool.destroy();
    }
  });

  it.each(['copy-worker', 'step-worker'])('a %s says worker.ready once loaded; destroyPool waits for it', async (name) => {
    const pool = createPool(name, { maxThreads: 1, minThreads: 1 });
    const said = new Promise<unknown>((resolve) => pool.on('message', resolve));
    // Destroyed at once, while the thread may still be loading: destroyPool
    // waits for its worker.ready (terminating a loading worker aborts Node 20).
    await destroyPool(pool);
    expect(await said).toMatchObject({ type: 'worker.ready', worker: name === 'copy-worker' ? 'copy' : 'step' });
  });

  // dist/src is the library build; dist/bundle is what bin/v2v.js runs.
  for (const built of ['dist/src/workers/copy-worker.js', 'dist/bundle/copy-worker.js']) {
    it(`runs the built worker ${built}`, async () => {
      const file = path.join(repoRoot, built);
      expect(existsSync(file), 'npm test builds dist first').toBe(true);
      const pool = new Piscina({ filename: file, maxThreads: 1 });
      try {
        const r = (await pool.run({ type: 'copy.start' })) as { type: string; error: { name: string } };
        expect(r.type).toBe('copy.failed');
        expect(r.error.name).toBe('ZodError');
      } finally {
        await pool.destroy();
      }
    });
  }

  it('the bundled pool starts workers from the bundle directory', async () => {
    const { workerFile: bundled } = (await import(path.join(repoRoot, 'dist/bundle/pool.js'))) as {
      workerFile: typeof workerFile;
    };
    expect(bundled('copy-worker')).toEqual({
      filename: `file://${path.join(repoRoot, 'dist/bundle/copy-worker.js')}`,
      execArgv: [],
    });
  });

  it('the built CLI answers --help', async () => {
    const r = await runCli(['copy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--connections');
  });
});
