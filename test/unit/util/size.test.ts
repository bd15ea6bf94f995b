import { describe, expect, it } from 'vitest';
import { humanSize, parseSize } from '../../../src/util/size.js';

describe('sizes', () => {
  it('parses plain numbers and binary suffixes', () => {
    expect(parseSize('4096', 'x')).toBe(4096);
    expect(parseSize('256K', 'x')).toBe(262144);
    expect(parseSize('1m', 'x')).toBe(1048576);
    expect(parseSize('2GiB', 'x')).toBe(2 * 2 ** 30);
  });
  it('rejects junk, naming the option', () => {
    expect(() => parseSize('abc', '--request-size')).toThrow(/^--request-size: expected a size/);
    expect(() => parseSize('-1', '--sparse')).toThrow(/--sparse/);
  });
  it('prints human sizes', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(1536)).toBe('1.5 KiB');
    expect(humanSize(2 ** 30)).toBe('1.0 GiB');
  });
});
