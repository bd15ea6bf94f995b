// Byte ranges for a ranges copy: validation, sorting and merging, the
// worker-boundary schema, and a JSON extent list's one-line errors.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteRanges, mergeRanges, normaliseRanges, rangesTotal } from '../../../src/copy/byte-ranges.js';
import { rangesFromJson, rangesFromJsonFile } from '../../../src/copy/ranges.js';
import { ConfigError, InputError } from '../../../src/errors.js';
import { test } from '../../helpers/fixtures.js';

const r = (offset: number, length: number) => ({ offset, length });

describe('normaliseRanges', () => {
  it('sorts, and merges ranges that overlap or touch', () => {
    expect(normaliseRanges([r(100, 10), r(0, 10), r(5, 10), r(15, 5), r(200, 1)])).toEqual([r(0, 20), r(100, 10), r(200, 1)]);
    expect(normaliseRanges([r(0, 100), r(10, 5)])).toEqual([r(0, 100)]);
    expect(normaliseRanges([])).toEqual([]);
  });
  it('leaves its input alone', () => {
    const input = [r(10, 5), r(0, 20)];
    normaliseRanges(input);
    expect(input).toEqual([r(10, 5), r(0, 20)]);
  });
  it('rejects what is not whole bytes, with a one-line message naming the entry', () => {
    const bad: [unknown, RegExp][] = [
      [[r(-1, 10)], /^copy ranges: 0\.offset: must be >= 0/],
      [[r(0, 0)], /^copy ranges: 0\.length: must be > 0/],
      [[r(0, 10), r(1.5, 10)], /^copy ranges: 1\.offset: must be a whole number of bytes/],
      [[{ offset: 0 }], /^copy ranges: 0\.length: /],
      [[{ offset: 0, length: 1, extra: 1 }], /^copy ranges: 0: .*extra/],
      [[r(2 ** 52, 2 ** 52)], /^copy ranges: 0: ends beyond 2\^53 bytes/],
      ['0-10', /^copy ranges: .*array/],
    ];
    for (const [input, want] of bad) {
      let err: unknown;
      try {
        normaliseRanges(input, 'copy ranges');
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(input)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(want);
      expect((err as Error).message).not.toContain('\n');
    }
  });
  it('covers exactly the union of its input, in sorted disjoint ranges (property)', () => {
    const range = fc.record({ offset: fc.integer({ min: 0, max: 500 }), length: fc.integer({ min: 1, max: 60 }) });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 30 }), (input) => {
        const out = mergeRanges(input);
        const covered = new Set<number>();
        for (const x of input) for (let b = x.offset; b < x.offset + x.length; b++) covered.add(b);
        expect(rangesTotal(out)).toBe(covered.size);
        for (const x of out) for (let b = x.offset; b < x.offset + x.length; b++) expect(covered.has(b)).toBe(true);
        for (let i = 1; i < out.length; i++) expect(out[i]!.offset).toBeGreaterThan(out[i - 1]!.offset + out[i - 1]!.length);
        expect(ByteRanges.safeParse(out).success).toBe(true);
      }),
    );
  });
});

describe('ByteRanges (the worker boundary)', () => {
  it('takes only a normalised list', () => {
    expect(ByteRanges.safeParse([r(0, 10), r(20, 10)]).success).toBe(true);
    expect(ByteRanges.safeParse([r(20, 10), r(0, 10)]).success).toBe(false);
    expect(ByteRanges.safeParse([r(0, 10), r(10, 10)]).success).toBe(false);
    expect(ByteRanges.safeParse([r(0, 10), r(5, 10)]).success).toBe(false);
  });
});

describe('rangesFromJson', () => {
  it('reads changed block tracking output: bytes, any order, merged', () => {
    const text = JSON.stringify([
      { offset: 1048576, length: 65536 },
      { offset: 0, length: 4096 },
      { offset: 1114112, length: 4096 },
    ]);
    expect(rangesFromJson(text, 'cbt.json')).toEqual([r(0, 4096), r(1048576, 69632)]);
    expect(rangesFromJson('[]', 'cbt.json')).toEqual([]);
  });
  it('says what is wrong with a bad list, in one line naming the file', () => {
    const bad: [string, RegExp][] = [
      ['[{"offset": 0, "length": 1}', /^cbt\.json: not JSON: /],
      ['{"offset": 0, "length": 1}', /^cbt\.json: .*expected an array of \{"offset": N, "length": N\} in bytes/],
      ['[{"offset": 0, "length": 0}]', /^cbt\.json: entry 0 length: must be > 0$/],
      ['[{"offset": 0, "length": 1}, {"start": 0, "length": 1}]', /^cbt\.json: entry 1 offset: /],
      ['[{"offset": "0", "length": 1}]', /^cbt\.json: entry 0 offset: must be a whole number of bytes$/],
      ['[{"offset": 0.5, "length": 1}]', /^cbt\.json: entry 0 offset: must be a whole number of bytes$/],
    ];
    for (const [text, want] of bad) {
      let err: unknown;
      try {
        rangesFromJson(text, 'cbt.json');
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(want);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});

describe('rangesFromJsonFile', () => {
  test('reads a file; a missing file is one line naming it', async ({ tmp }) => {
    const f = path.join(tmp, 'changed.json');
    await writeFile(f, '[{"offset": 512, "length": 512}, {"offset": 0, "length": 512}]\n');
    expect(await rangesFromJsonFile(f)).toEqual([r(0, 1024)]);
    const missing = path.join(tmp, 'missing.json');
    await expect(rangesFromJsonFile(missing)).rejects.toThrow(new RegExp(`^${missing}: no such file or directory`, 'i'));
  });
});
