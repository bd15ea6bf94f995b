import { describe, expect, it } from 'vitest';
import { parseEndpoint, parseOperands } from '../../../src/copy/endpoint.js';

describe('parseEndpoint', () => {
  it('recognises NBD URIs, files, null: and rejects what cannot work', () => {
    expect(parseEndpoint('nbd+unix:///?socket=/s', 'source')).toEqual({
      kind: 'nbd-uri',
      name: 'source nbd+unix:///?socket=/s',
      uri: 'nbd+unix:///?socket=/s',
    });
    expect(parseEndpoint('nbd://host:10809/x', 'target').kind).toBe('nbd-uri');
    expect(parseEndpoint('disk.img', 'target')).toMatchObject({ kind: 'file', path: expect.stringMatching(/^\/.*\/disk\.img$/) });
    expect(parseEndpoint('null:', 'target').kind).toBe('null');
    expect(() => parseEndpoint('null:', 'source')).toThrow(/^source: null: can only be a target$/);
    expect(() => parseEndpoint('-', 'source')).toThrow(/not supported/);
    expect(() => parseEndpoint('http://x/y', 'source')).toThrow(/unsupported URI scheme/);
    expect(() => parseEndpoint('', 'target')).toThrow(/empty/);
  });
});

describe('parseOperands', () => {
  it('groups [ CMD ARGS ] like nbdcopy', () => {
    const r = parseOperands(['[', 'nbdkit', 'memory', '1G', ']', 'out.img']);
    expect(r.source).toEqual({ kind: 'nbd-systemd', name: 'source [ nbdkit memory 1G ]', argv: ['nbdkit', 'memory', '1G'] });
    expect(r.target.kind).toBe('file');
    const both = parseOperands(['[', 'a', ']', '[', 'b', 'c', ']']);
    expect(both.target).toMatchObject({ kind: 'nbd-systemd', argv: ['b', 'c'] });
  });
  it('rejects bad grouping and counts', () => {
    expect(() => parseOperands(['[', 'nbdkit', 'x'])).toThrow(/unterminated/);
    expect(() => parseOperands([']', 'a'])).toThrow(/without/);
    expect(() => parseOperands(['[', ']', 'a'])).toThrow(/names no command/);
    expect(() => parseOperands(['a'])).toThrow(/got 1 operand/);
    expect(() => parseOperands(['a', 'b', 'c'])).toThrow(/got 3 operand/);
  });
});
