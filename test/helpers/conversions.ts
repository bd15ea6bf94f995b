// The slow tier's conversions, each made once and shared by the tests that
// check it (docs/ARCHITECTURE.md, Tests): a conversion of the sample guest
// takes minutes under TCG, so a describe block makes its conversion in
// beforeAll and each of its tests checks one thing on the result. The
// sample's `-i disk` to `-o local` conversion is also the demo's: when
// scripts/demo.sh made exactly that one in this checkout and nothing has
// changed since, its output is checked instead of converting again.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { dir as tmpDir, type DirectoryResult } from 'tmp-promise';
import { run, sha256File } from './fixtures.js';
import { repoRoot } from './cli.js';
import { sampleGuest } from './guests.js';

/**
 * One conversion shared by the tests of the enclosing describe block: MAKE
 * runs once in beforeAll, in a temp dir of its own (removed in afterAll);
 * sideBySideConversions with one conversion. Returns a getter for its
 * result; when MAKE threw, the getter throws its error, so every test of
 * the block fails with it.
 */
export function sharedConversion<T>(make: (dir: string) => Promise<T>, timeoutMs = 900_000): () => T {
  return sideBySideConversions({ conversion: make }, timeoutMs).conversion;
}

type Makers = Record<string, (dir: string) => Promise<unknown>>;

/**
 * Several conversions of one file made side by side in one beforeAll (on 2
 * cores two TCG appliances finish sooner together than one after the
 * other), each MAKE in a dir of its own under one temp dir (removed in
 * afterAll). Returns a getter per name; a getter whose conversion failed
 * throws its error, so only the tests that check that one fail.
 */
export function sideBySideConversions<M extends Makers>(makers: M, timeoutMs = 900_000): { [K in keyof M]: () => Awaited<ReturnType<M[K]>> } {
  let dir: DirectoryResult | undefined;
  const made = new Map<string, PromiseSettledResult<unknown>>();
  beforeAll(async () => {
    dir = await tmpDir({ unsafeCleanup: true, prefix: 'v2v-e2e-' });
    const names = Object.keys(makers);
    const settled = await Promise.allSettled(
      names.map(async (name) => {
        const sub = path.join(dir!.path, name);
        await mkdir(sub);
        return makers[name]!(sub);
      }),
    );
    names.forEach((name, i) => made.set(name, settled[i]!));
  }, timeoutMs);
  afterAll(async () => {
    await dir?.cleanup();
  });
  const getters: Record<string, () => unknown> = {};
  for (const name of Object.keys(makers)) {
    getters[name] = () => {
      const r = made.get(name);
      if (!r) throw new Error(`the conversion ${name} was not made (see the beforeAll error)`);
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
  }
  return getters as { [K in keyof M]: () => Awaited<ReturnType<M[K]>> };
}

/** FN run once, when first asked for, its promise shared (a read of a converted guest several tests check). */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export const demoOut = path.join(repoRoot, '.cache', 'demo');
export const demoStamp = path.join(repoRoot, '.cache', 'demo.stamp');
/** The demo's command line as scripts/demo.sh records it (paths relative to the repo). */
export const demoArgs = '-i disk .cache/guests/debian12-sda.img -o local -os .cache/demo -on sample';

/** What scripts/demo.sh wrote last, after its own checks passed (set -e). */
export interface DemoStamp {
  /** The sample's sha256 before the conversion. */
  source: string;
  build: string;
  args: string;
  /** sha256 of each output file, by name. */
  files: Record<string, string>;
}

export function parseStamp(text: string): DemoStamp {
  const s: DemoStamp = { source: '', build: '', args: '', files: {} };
  for (const line of text.split('\n')) {
    const m = /^(source|build|args|file) (.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] as 'source' | 'build' | 'args' | 'file';
    const value = m[2]!;
    if (key === 'file') {
      const [name, sum] = value.split(' ');
      if (name && sum) s.files[name] = sum;
    } else {
      s[key] = value;
    }
  }
  return s;
}

/**
 * The demo's conversion of the sample (`v2v -i disk ... -o local -os
 * .cache/demo -on sample`), if it is exactly the one this checkout would
 * make now: its stamp names the same command line, the sample guest as it
 * is now, the build id scripts/build-id.sh prints now (engine, addon,
 * dependencies, node, virt-v2v-in-place, nbdkit, qemu), and the output
 * files as they are now (nobody booted the disk without a snapshot).
 * Otherwise why not, for the test log. V2V_E2E_NO_DEMO=1 never reuses it.
 */
export async function demoConversion(): Promise<{ out: string; stamp: DemoStamp } | { why: string }> {
  if (process.env.V2V_E2E_NO_DEMO) return { why: 'V2V_E2E_NO_DEMO is set' };
  if (!existsSync(demoStamp)) return { why: `no ${path.relative(repoRoot, demoStamp)} (npm run demo did not run, or failed)` };
  const stamp = parseStamp(await readFile(demoStamp, 'utf8'));
  if (stamp.args !== demoArgs) return { why: `the demo ran ${stamp.args}` };
  if (stamp.source !== (await sha256File(sampleGuest))) return { why: 'the sample guest changed since the demo' };
  const build = (await run([path.join(repoRoot, 'scripts', 'build-id.sh')])).trim();
  if (stamp.build !== build) return { why: 'the build or a tool changed since the demo' };
  const names = Object.keys(stamp.files).sort();
  if (names.join(' ') !== 'sample-sda sample.xml') return { why: `the stamp names ${names.join(', ')}` };
  for (const name of names) {
    const file = path.join(demoOut, name);
    if (!existsSync(file) || (await sha256File(file)) !== stamp.files[name]) return { why: `${name} changed since the demo` };
  }
  return { out: demoOut, stamp };
}
