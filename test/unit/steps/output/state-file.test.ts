// output.json is checked before anything acts on it (issue 9 §5): a record
// naming a path setup would not have made, outside -os, through a link that
// moved, or a socket not the work dir's, is refused whole.
import { mkdir, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { InputError } from '../../../../src/errors.js';
import { nbdUnixUri } from '../../../../src/process/server.js';
import { readOutputStateSync, type OutputStateFile } from '../../../../src/steps/output/state-file.js';
import { test } from '../../../helpers/fixtures.js';
import { thrownBy } from '../../../helpers/tools.js';

async function setup(tmp: string): Promise<{ out: string; record: () => OutputStateFile }> {
  await mkdir(path.join(tmp, 'out'));
  const out = await realpath(path.join(tmp, 'out'));
  const record = (): OutputStateFile => ({
    version: 1,
    kind: 'v2v-output-state',
    state: 'setup',
    options: { type: 'qemu', storage: out, format: 'qcow2', allocation: 'sparse', name: 'g' },
    disks: [0, 1].map((index) => {
      const base = `g-sd${'ab'[index]}`;
      return { index, final: path.join(out, base), partial: path.join(out, `.${base}.v2v-partial`) };
    }),
    targets: [0, 1].map((index) => ({ index, uri: nbdUnixUri(path.join(tmp, `out${index}`)), knownZero: true })),
  });
  return { out, record };
}

const save = (tmp: string, r: unknown) => writeFile(path.join(tmp, 'output.json'), JSON.stringify(r));

describe('output.json records', () => {
  test('the record setup writes is read back as it is', async ({ tmp }) => {
    const { record } = await setup(tmp);
    await save(tmp, record());
    expect(readOutputStateSync(tmp)).toEqual(record());
    expect(readOutputStateSync(path.join(tmp, 'out'))).toBeUndefined();
  });

  test.for<[string, (r: OutputStateFile) => void, RegExp]>([
    ['a partial disk that is another file', (r: OutputStateFile) => void (r.disks[0]!.partial = '/etc/shadow'), /disk 0's paths are not the names setup gives/],
    ['a final name in another directory', (r: OutputStateFile) => void (r.disks[1]!.final = '/etc/g-sdb'), /not in -os/],
    ['a disk name that is not its index', (r: OutputStateFile) => void (r.disks[1]!.final = r.disks[0]!.final), /disk 1's paths/],
    ['a guest name with a slash', (r: OutputStateFile) => void (r.options.name = '../g'), /guest name/],
    ['a relative -os', (r: OutputStateFile) => void (r.options.storage = 'out'), /absolute -os/],
    ['a target socket outside the work dir', (r: OutputStateFile) => void (r.targets[0]!.uri = nbdUnixUri('/run/other.sock')), /not this work dir's socket out0/],
    ['a disk listed twice', (r: OutputStateFile) => void r.disks.push(r.disks[0]!), /listed twice/],
    ['-o null naming disks', (r: OutputStateFile) => void (r.options.type = 'null'), /-o null writes no disks/],
  ])('refused whole: %s', async ([, forge, why], { tmp }) => {
    const { record } = await setup(tmp);
    const r = record();
    forge(r);
    await save(tmp, r);
    const err = thrownBy(() => readOutputStateSync(tmp));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/output\.json: refusing to act on it: /);
    expect(err.message).toMatch(why);
  });

  test('-o libvirt: volumes in the recorded pool directory are read back; anything else is refused whole', async ({ tmp }) => {
    const { out } = await setup(tmp);
    const lv = (): OutputStateFile => ({
      version: 1,
      kind: 'v2v-output-state',
      state: 'setup',
      options: { type: 'libvirt', storage: 'default', connection: 'qemu:///system', format: 'raw', allocation: 'sparse', name: 'g' },
      libvirt: { uri: 'qemu:///system', pool: 'default', poolPath: out },
      disks: [{ index: 0, final: path.join(out, 'g-sda'), partial: path.join(out, 'g-sda') }],
      targets: [{ index: 0, uri: nbdUnixUri(path.join(tmp, 'out0')), knownZero: true }],
    });
    await save(tmp, lv());
    expect(readOutputStateSync(tmp)).toEqual(lv());
    await symlink(out, path.join(tmp, 'link'));
    const forged: [(r: OutputStateFile) => void, RegExp][] = [
      [(r) => void (r.disks[0]!.partial = '/etc/shadow'), /disk 0 is not the volume setup makes/],
      [(r) => void (r.libvirt!.poolPath = '/etc'), /disk 0 is not the volume/],
      [(r) => void (r.libvirt!.poolPath = path.join(tmp, 'link')), /does not resolve to itself/],
      [(r) => void delete r.libvirt, /-o libvirt records its pool/],
      [(r) => void (r.options.type = 'local'), /-o local has no libvirt pool/],
      [(r) => void (r.targets[0]!.uri = nbdUnixUri('/run/x.sock')), /not this work dir's socket out0/],
    ];
    for (const [forge, why] of forged) {
      const r = lv();
      forge(r);
      await save(tmp, r);
      expect(thrownBy(() => readOutputStateSync(tmp)).message).toMatch(why);
    }
  });

  test('-os replaced by a symbolic link after setup: refused (checked after resolving links)', async ({ tmp }) => {
    const { out, record } = await setup(tmp);
    await save(tmp, record());
    await rename(out, path.join(tmp, 'moved'));
    await symlink('/etc', out);
    expect(thrownBy(() => readOutputStateSync(tmp)).message).toMatch(/does not resolve to itself/);
  });

  test('not JSON, or output.json a symbolic link: one line naming the file', async ({ tmp }) => {
    await writeFile(path.join(tmp, 'output.json'), '{not json');
    expect(thrownBy(() => readOutputStateSync(tmp)).message).toBe(`${path.join(tmp, 'output.json')}: not valid JSON`);
    const { record } = await setup(tmp);
    await save(path.join(tmp, 'out'), record());
    await rm(path.join(tmp, 'output.json'));
    await symlink(path.join(tmp, 'out', 'output.json'), path.join(tmp, 'output.json'));
    expect(thrownBy(() => readOutputStateSync(tmp)).message).toMatch(/output\.json: not a regular file/);
  });
});
