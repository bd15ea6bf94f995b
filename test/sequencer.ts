// The order vitest hands test files to its two workers (vitest.config.ts),
// longest first: virt-v2v's compat scripts (about 20 minutes, one at a
// time) in a worker of its own while the other works through the rest;
// their Fedora group next where it runs (V2V_COMPAT_FEDORA=1: its guests'
// build and five conversions, about 15 minutes); then the end-to-end
// conversions, and the quick integration and unit files last, shared by
// whichever worker is free.
// Within each rank, vitest's own order (slowest first, from its cache).
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const RANKS = ['/test/e2e/compat.test.ts', '/test/e2e/compat-fedora.test.ts', '/test/e2e/'];
const rank = (file: string): number => {
  const i = RANKS.findIndex((r) => (r.endsWith('/') ? file.includes(r) : file.endsWith(r)));
  return i < 0 ? RANKS.length : i;
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f.moduleId) - rank(b.f.moduleId) || a.i - b.i)
      .map(({ f }) => f);
  }
}
