// The names and paths a job takes, checked with its options so that the
// CLI, `v2v batch` and the library refuse them alike, before anything runs:
// clean text (no U+FFFD from a lossy decode, no lone surrogate), and a
// guest name whose output files all fit NAME_MAX (255 bytes, UTF-8).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFromArgs } from '../../../src/engine/from-args.js';
import { parseJobOptions } from '../../../src/engine/options.js';
import { diskPaths, partialOf } from '../../../src/steps/output/disks.js';
import { LONGEST_DISK_INDEX, NAME_MAX, maxNameBytes, nameLengthProblem, outputFileNames } from '../../../src/steps/output/names.js';
import { checkOutputOptions } from '../../../src/steps/output/output.js';
import { argvProblem, isCleanText, showText } from '../../../src/util/text.js';
import { rejectionOf, thrownBy } from '../../helpers/tools.js';

const job = (...more: string[]) => ['-i', 'disk', '/g.img', '-o', 'local', '-os', '/out', ...more];

describe('clean text', () => {
  it('refuses U+FFFD and lone surrogates, keeps any other text', () => {
    for (const s of ['guest', 'café', '客人', 'emoji \u{1F600}', '']) expect(isCleanText(s), s).toBe(true);
    for (const s of ['a\uFFFDb', 'a\uD800b', '\uDC00', 'x\uD83D']) expect(isCleanText(s), JSON.stringify(s)).toBe(false);
    expect(showText('a\uFFFD\uD800\n')).toBe('"a\\ufffd\\ud800\\n"');
    expect(showText('x'.repeat(100), 10)).toBe(`"${'x'.repeat(10)}..."`);
  });

  it('argvProblem names the first bad argument, from 1, and the option before it', () => {
    expect(argvProblem(job('-on', 'g'))).toBeUndefined();
    expect(argvProblem(job('-on', 'a\uFFFDb'))).toBe('argument 9 (after -on) is not valid UTF-8 (it holds U+FFFD or a lone surrogate): "a\\ufffdb"');
    expect(argvProblem(['copy', '/x\uFFFD', 'null:'])).toMatch(/^argument 2 is not valid UTF-8/);
  });

  it('JobOptions refuses such names and paths, naming the option', () => {
    const cases: [string[], string][] = [
      [job('-on', 'a\uD800'), '-on "a\\ud800": not valid UTF-8'],
      [['-i', 'disk', '/g\uFFFD.img', '-o', 'null'], '-i disk "/g\\ufffd.img": not valid UTF-8'],
      [['-i', 'disk', '/g.img', '-o', 'local', '-os', '/o\uFFFD'], '-os "/o\\ufffd": not valid UTF-8'],
      [['-i', 'libvirtxml', '/g\uFFFD.xml', '-o', 'null'], '-i libvirtxml "/g\\ufffd.xml"'],
      [job('--log-dir', '/l\uDC00'), '--log-dir "/l\\udc00"'],
      [job('-b', 'br\uFFFD'), '-b "br\\ufffd"'],
    ];
    for (const [argv, message] of cases) {
      const e = thrownBy(() => optionsFromArgs(argv));
      expect(e.code, argv.join(' ')).toBe('CONFIG_ERROR');
      expect(e.message).toContain(message);
    }
    const lib = thrownBy(() => parseJobOptions({ input: { type: 'disk', files: ['/g.img'] }, workParent: '/t\uFFFD' }));
    expect(lib.message).toBe('workParent "/t\\ufffd": not valid UTF-8 (it holds U+FFFD or a lone surrogate)');
  });
});

describe('guest name length', () => {
  it('allows the longest output file name, .NAME-sdzz.v2v-partial, to fit 255 bytes', () => {
    expect(NAME_MAX).toBe(255);
    // The same names disks.ts makes.
    const name = 'guest';
    const longest = path.basename(diskPaths('/out', name, LONGEST_DISK_INDEX).partial);
    expect(longest).toBe('.guest-sdzz.v2v-partial');
    expect(outputFileNames('local', name)).toEqual([longest, 'guest-sdzz', path.basename(partialOf('/out/guest.xml')), 'guest.xml']);
    expect(outputFileNames('qemu', name)).toContain('.guest.sh.v2v-partial');
    expect(maxNameBytes('local')).toBe(255 - '.-sdzz.v2v-partial'.length);
    expect(maxNameBytes('qemu')).toBe(237);
  });

  it('JobOptions: -on up to 237 bytes passes; longer is refused in one line naming -on and the limit', () => {
    expect(optionsFromArgs(job('-on', 'n'.repeat(237))).name).toHaveLength(237);
    const e = thrownBy(() => optionsFromArgs(job('-on', 'n'.repeat(238))));
    expect(e.code).toBe('CONFIG_ERROR');
    expect(e.message).toMatch(/^-on "n{40}\.\.\.": the guest name is 238 bytes long; -o local allows at most 237 bytes \(UTF-8\)/);
    expect(e.message).toContain('must fit in 255 bytes');
    expect(e.message).not.toContain('\n');
    // UTF-8 bytes, not characters.
    expect(() => optionsFromArgs(job('-on', 'é'.repeat(118)))).not.toThrow();
    expect(thrownBy(() => optionsFromArgs(job('-on', 'é'.repeat(119)))).message).toContain('238 bytes long');
    // -o null writes no file; --print-source writes nothing.
    expect(() => optionsFromArgs(['-i', 'disk', '/g.img', '-o', 'null', '-on', 'n'.repeat(300)])).not.toThrow();
    expect(() => optionsFromArgs(job('--print-source', '-on', 'n'.repeat(300)))).not.toThrow();
  });

  it('checkOutputOptions: a source name too long (no -on) or not clean is refused too, before -os is looked at', async () => {
    const o = { type: 'qemu' as const, storage: '/nonexistent', format: 'raw' as const, allocation: 'sparse' as const };
    const long = await rejectionOf(checkOutputOptions({ ...o, name: 'n'.repeat(240) }));
    expect(long.code).toBe('CONFIG_ERROR');
    expect(long.message).toBe(nameLengthProblem('qemu', 'n'.repeat(240)));
    expect(long.message).toContain('-o qemu allows at most 237 bytes');
    expect((await rejectionOf(checkOutputOptions({ ...o, name: 'g\uFFFD' }))).message).toBe('-on "g\\ufffd": not valid UTF-8 (it holds U+FFFD or a lone surrogate)');
    expect((await rejectionOf(checkOutputOptions({ ...o, name: 'g', storage: '/o\uD800' }))).message).toContain('-os "/o\\ud800"');
    expect(nameLengthProblem('null', 'n'.repeat(300))).toBeUndefined();
    // -o libvirt's volumes have no partial names: NAME-sdzz must fit.
    expect(maxNameBytes('libvirt')).toBe(255 - '-sdzz'.length);
  });
});
