// A copy onto itself is refused before anything is opened: nbdcopy X X
// truncates X first, so the disk would be zeroed. The same file through a
// symlink, a hard link or a relative path, and the same NBD export through
// another name of its socket, are all "the same"; the data is unchanged.
import { link, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { copy } from '../../src/copy/copy.js';
import { expectOneError, runCli } from '../helpers/cli.js';
import { makeRaw, readAll, sha256, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';

describe.skipIf(!has('nbdkit') || !has('nbdcopy'))('copy onto itself', () => {
  test('the same file, by name, symlink, hard link or relative path: exit 1, one line, the file unchanged', async ({ tmp }) => {
    const disk = path.join(tmp, 'disk.img');
    await makeRaw(disk, 4, 7);
    const before = await sha256File(disk);
    const sym = path.join(tmp, 'sym.img');
    const hard = path.join(tmp, 'hard.img');
    await symlink(disk, sym);
    await link(disk, hard);
    expectOneError(await runCli(['copy', disk, disk]), `source and target are the same file (${disk})`);
    expectOneError(await runCli(['copy', disk, sym]), 'source and target are the same file', disk, sym);
    expectOneError(await runCli(['copy', hard, disk]), 'source and target are the same file', hard, disk);
    expectOneError(await runCli(['copy', path.relative(process.cwd(), disk), disk]), 'the same file');
    expect(await sha256File(disk)).toBe(before);
  });

  test('the library refuses too (InputError), and leaves the file alone', async ({ tmp }) => {
    const disk = path.join(tmp, 'disk.img');
    await makeRaw(disk, 4, 8);
    const before = await sha256File(disk);
    const sym = path.join(tmp, 'sym.img');
    await symlink(disk, sym);
    await expect(copy({ source: sym, target: disk })).rejects.toMatchObject({
      code: 'INPUT_ERROR',
      message: `source and target are the same file (${sym} and ${disk})`,
    });
    expect(await sha256File(disk)).toBe(before);
  });

  test('the same NBD export through a symlink to its socket: exit 1, the data unchanged', async ({ nbdkit, tmp }) => {
    const srv = await nbdkit(['memory', '4M']);
    const data = await nbdkit(['random', '4M'], { readonly: true });
    await copy({ source: data.uri, target: srv.uri });
    const before = sha256(await readAll(srv.uri));
    const sym = path.join(tmp, 'sock-link');
    await symlink(srv.socket, sym);
    const other = `nbd+unix:///?socket=${sym}`;
    expectOneError(await runCli(['copy', srv.uri, srv.uri]), 'source and target are the same NBD export', srv.uri);
    expectOneError(await runCli(['copy', srv.uri, other]), 'the same NBD export', other);
    expect(sha256(await readAll(srv.uri))).toBe(before);
  });
});
