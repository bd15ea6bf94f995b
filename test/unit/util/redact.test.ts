import { describe, expect, it } from 'vitest';
import { redactArgv, redactKeySelector } from '../../../src/util/redact.js';

describe('redactArgv: no LUKS passphrase in a recorded command line', () => {
  it('hides the KEY of --key ID:key:KEY in each spelling, keeps files and everything else', () => {
    const argv = ['node', 'v2v', '-i', 'disk', 'a.img', '--key', '/dev/sda2:key:s3cret', '--key=/dev/sdb1:key:other', '-key', 'x:key:a:b', '--key', '/dev/sdc:file:/k.txt'];
    expect(redactArgv(argv)).toEqual([
      'node', 'v2v', '-i', 'disk', 'a.img',
      '--key', '/dev/sda2:key:<redacted>',
      '--key=/dev/sdb1:key:<redacted>',
      '-key', 'x:key:<redacted>',
      '--key', '/dev/sdc:file:/k.txt',
    ]);
    expect(argv[6]).toBe('/dev/sda2:key:s3cret'); // a new array
  });

  it('leaves a selector without a passphrase, and a --key at the end, as they are', () => {
    expect(redactKeySelector('/dev/sda2:key')).toBe('/dev/sda2:key');
    expect(redactKeySelector('/dev/sda2:key:')).toBe('/dev/sda2:key:<redacted>');
    expect(redactArgv(['v2v', '--key'])).toEqual(['v2v', '--key']);
  });
});
