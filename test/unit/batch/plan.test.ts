// Batch plans: the schema, the limits' defaults, JSON and YAML files, and
// every refusal as one ConfigError line naming the guest.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPlan } from '../../../src/batch/load.js';
import { BatchPlan, GuestEntry, Limits, defaultConversions, defaultCopies, parsePlan } from '../../../src/batch/plan.js';
import { thrownBy } from '../../helpers/tools.js';

const disk = (id: string, ...more: string[]) => ({ id, args: ['-i', 'disk', `/d/${id}.img`, '-o', 'null', ...more] });

function refusal(raw: unknown): string {
  const err = thrownBy(() => parsePlan(raw));
  expect(err.code).toBe('CONFIG_ERROR');
  expect(err.message).not.toContain('\n');
  return err.message;
}

describe('batch plan', () => {
  it('takes args and options guests; limits default from the machine', () => {
    const p = parsePlan({
      guests: [disk('g1', '--no-convert'), { id: 'g-2.b_c', options: { input: { type: 'disk', files: ['/d/b.img'] }, output: { type: 'local', storage: '/out' } } }],
    });
    expect(p.guests.map((g) => g.id)).toEqual(['g1', 'g-2.b_c']);
    expect(p.guests[0]!.options).toMatchObject({ input: { type: 'disk', files: ['/d/g1.img'] }, output: { type: 'null' }, noConvert: true });
    expect(p.guests[1]!.options!.output).toEqual({ type: 'local', storage: '/out', format: 'raw', allocation: 'sparse' });
    expect(p.limits).toEqual({ conversions: defaultConversions(), copies: defaultCopies(), guests: defaultConversions() + defaultCopies() });
    expect(p.limits).not.toHaveProperty('bandwidth');
  });

  it('conversions default to min(cores, free GiB), at least 1; copies to two per core', () => {
    expect(defaultConversions(8, 3.5 * 2 ** 30)).toBe(3);
    expect(defaultConversions(2, 24 * 2 ** 30)).toBe(2);
    expect(defaultConversions(4, 0.2 * 2 ** 30)).toBe(1);
    expect(defaultCopies(2)).toBe(4);
  });

  it('keeps the limits given', () => {
    const p = parsePlan({ guests: [disk('a')], limits: { conversions: 1, copies: 3, copiesPerHost: 2, bandwidth: 1e8, guests: 2 } });
    expect(p.limits).toEqual({ conversions: 1, copies: 3, copiesPerHost: 2, bandwidth: 1e8, guests: 2 });
  });

  it('a parsed plan parses again to itself', () => {
    const p = parsePlan({ guests: [disk('a'), disk('b', '--no-convert')], limits: { copies: 1 } });
    expect(parsePlan(p)).toEqual(p);
  });

  it('refuses duplicate ids, naming the guest', () => {
    expect(refusal({ guests: [disk('g1'), disk('g2'), disk('g1')] })).toBe('plan: guest g1: id: id used twice (guests 1 and 3)');
  });

  it('refuses ids that are not safe as a directory name', () => {
    for (const id of ['..', '.', 'a/b', 'a b', '', 'x'.repeat(101)]) {
      expect(refusal({ guests: [disk('ok'), { id, args: ['-i', 'disk', 'a.img'] }] })).toMatch(/^plan: guest 2 \(".*"\): id: must /);
    }
  });

  it('refuses bad args with the command line\'s own message', () => {
    expect(refusal({ guests: [disk('g1'), { id: 'g2', args: ['-i', 'disk'] }] })).toBe('plan: guest g2: -i disk: expecting a disk image (filename) on the command line');
    expect(refusal({ guests: [{ id: 'g3', args: ['-i', 'disk', 'a.img', '-o', 'local'] }] })).toBe(
      "plan: guest g3: -o local: output directory was not specified, use '-os /dir'",
    );
    expect(refusal({ guests: [{ id: 'g4', args: ['-i', 'xen', 'a'] }] })).toMatch(/^plan: guest g4: -i xen: input type not supported/);
  });

  it('refuses bad options, naming the guest and the option', () => {
    expect(refusal({ guests: [{ id: 'g1', options: { input: { type: 'disk', files: ['a'] }, output: { type: 'local' } } }] })).toBe(
      "plan: guest g1: -o local: output directory was not specified, use '-os /dir'",
    );
    expect(refusal({ guests: [{ id: 'g1', options: { input: { type: 'disk', files: ['a'] }, colour: 'red' } }] })).toMatch(/^plan: guest g1: options: .*colour/);
  });

  it('refuses a guest with both or neither of args and options, and unknown keys', () => {
    expect(refusal({ guests: [{ id: 'g1' }] })).toBe('plan: guest g1: give either "args" or "options"');
    expect(refusal({ guests: [{ ...disk('g1'), options: { input: { type: 'disk', files: ['a'] } } }] })).toBe('plan: guest g1: give either "args" or "options"');
    expect(refusal({ guests: [{ ...disk('g1'), name: 'x' }] })).toMatch(/^plan: guest g1: .*name/);
  });

  it('refuses bad plans and limits in one line', () => {
    expect(refusal({ guests: [] })).toBe('plan: guests: no guests');
    expect(refusal({})).toMatch(/^plan: guests: /);
    expect(refusal({ guests: [disk('a')], limits: { copies: 0 } })).toMatch(/^plan: limits\.copies: /);
    expect(refusal({ guests: [disk('a')], limits: { bandwidth: -1 } })).toMatch(/^plan: limits\.bandwidth: /);
    expect(refusal({ guests: [disk('a')], limits: { copiez: 2 } })).toMatch(/^plan: limits: .*copiez/);
  });

  it('documents every key', () => {
    const keys = { ...BatchPlan.shape, ...Limits.shape, ...GuestEntry.shape };
    for (const [k, v] of Object.entries(keys)) expect(v.description, k).toBeTruthy();
  });
});

describe('loadPlan', () => {
  const dirs: string[] = [];
  const planDir = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'v2v-plan-'));
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('reads JSON and YAML; relative paths are the plan\'s', async () => {
    const dir = await planDir();
    const json = path.join(dir, 'plan.json');
    await writeFile(json, JSON.stringify({ guests: [{ id: 'a', args: ['-i', 'disk', 'a.img', '-o', 'local', '-os', 'out'] }], limits: { copies: 2 } }));
    const yaml = path.join(dir, 'plan.yaml');
    await writeFile(
      yaml,
      ['guests:', '  - id: a', '    args: [-i, disk, a.img, -o, local, -os, out]', '  - id: b', '    options:', '      input: { type: ova, file: /abs/b.ova }', 'limits: { copies: 2 }', ''].join('\n'),
    );
    const [pj, py] = [await loadPlan(json), await loadPlan(yaml)];
    expect(pj.guests[0]!.options!.input).toEqual({ type: 'disk', files: [path.join(dir, 'a.img')] });
    expect(pj.guests[0]!.options!.output.storage).toBe(path.join(dir, 'out'));
    expect(py.guests[0]!.options).toEqual(pj.guests[0]!.options);
    expect(py.guests[1]!.options!.input).toEqual({ type: 'ova', file: '/abs/b.ova' });
    expect(py.limits.copies).toBe(2);
  });

  it('one line for a missing file, bad syntax and a bad guest, naming the file', async () => {
    const dir = await planDir();
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{"guests": [');
    const badYaml = path.join(dir, 'bad.yaml');
    await writeFile(badYaml, 'guests: [\n  - id: a\n   args: x');
    const dup = path.join(dir, 'dup.yml');
    await writeFile(dup, 'guests:\n  - {id: a, args: [-i, disk, a.img]}\n  - {id: a, args: [-i, disk, b.img]}\n');
    for (const [file, re] of [
      [path.join(dir, 'none.json'), /: No such file or directory$/],
      [bad, /: not valid JSON: /],
      [badYaml, /: not valid YAML: /],
      [dup, /: guest a: id: id used twice \(guests 1 and 2\)$/],
      [dir, /: (not a regular file|Is a directory)$/],
    ] as const) {
      const err = await loadPlan(file).then(
        () => new Error('loaded'),
        (e: Error & { code?: string }) => e,
      );
      expect((err as { code?: string }).code).toBe('CONFIG_ERROR');
      expect(err.message.startsWith(file)).toBe(true);
      expect(err.message).toMatch(re);
      expect(err.message).not.toContain('\n');
    }
  });

  it('the README\'s two example plans are valid and the same plan', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## `v2v batch`'), readme.indexOf('## `v2v copy`'));
    const block = (lang: string) => new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)![1]!;
    const dir = await planDir();
    await writeFile(path.join(dir, 'p.json'), block('json'));
    await writeFile(path.join(dir, 'p.yaml'), block('yaml'));
    const [j, y] = [await loadPlan(path.join(dir, 'p.json')), await loadPlan(path.join(dir, 'p.yaml'))];
    expect(y).toEqual(j);
    expect(j.guests.map((g) => g.id)).toEqual(['web1', 'db1', 'kvm1']);
    expect(j.limits).toEqual({ conversions: 2, copies: 4, copiesPerHost: 2, bandwidth: 200000000, guests: 6 });
  });
});
