import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConvertOptions, convertArgs, parseKeySelector } from '../../../src/steps/convert/options.js';
import { thrownBy } from '../../helpers/tools.js';

describe('--key selectors and --root (virt-v2v-in-place options)', () => {
  it('parses ID:key:KEY and ID:file:FILE as virt-v2v does', () => {
    expect(parseKeySelector('/dev/sda2:key:pw')).toEqual({ id: '/dev/sda2', type: 'key', key: 'pw' });
    expect(parseKeySelector('c1f7e9e4-uuid:file:/k')).toEqual({ id: 'c1f7e9e4-uuid', type: 'file', file: '/k' });
    expect(parseKeySelector('/dev/sda2:key:')).toEqual({ id: '/dev/sda2', type: 'key', key: '' });
  });

  it('refuses a passphrase with a newline without showing it; IDs and files with ":" from a caller', () => {
    const e = thrownBy(() => parseKeySelector('/dev/sda2:key:a\nb'));
    expect(e.message).toBe("--key: selector '/dev/sda2:key:<redacted>': a --key passphrase cannot hold a newline or NUL");
    expect(e.message).not.toContain('a\nb');
    expect(ConvertOptions.safeParse({ keys: [{ id: 'a:b', type: 'key', key: 'x' }] }).success).toBe(false);
    expect(ConvertOptions.safeParse({ keys: [{ id: 'a', type: 'file', file: '/x:y' }] }).success).toBe(false);
    expect(ConvertOptions.safeParse({ root: 'second' }).error?.issues[0]?.message).toBe('unknown --root option: second');
    expect(ConvertOptions.parse({ root: '/dev/VG/root' })).toEqual({ root: '/dev/VG/root', keys: [] });
  });

  it('convertArgs: passphrases as 0600 files in the dir, removed by dispose; files made absolute', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'v2v-keys-'));
    try {
      const a = await convertArgs(dir, { root: 'first', keys: [{ id: '/dev/sda2', type: 'key', key: 'pw' }, { id: '/dev/sdb', type: 'file', file: 'rel.key' }] });
      const file = path.join(dir, 'luks-key0');
      expect(a.root).toEqual(['--root', 'first']);
      expect(a.keys).toEqual(['--key', `/dev/sda2:file:${file}`, '--key', `/dev/sdb:file:${path.resolve('rel.key')}`]);
      expect(a.secrets).toEqual(['pw']);
      expect(readFileSync(file, 'utf8')).toBe('pw');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      await a.dispose();
      expect(await readdir(dir)).toEqual([]);
      expect(await convertArgs(dir, undefined)).toMatchObject({ root: [], keys: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
