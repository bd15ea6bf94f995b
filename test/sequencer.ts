// The order vitest hands test files to its two workers (vitest.config.ts):
// virt-v2v's compat scripts first, so that they run in one worker for the
// whole run (about 20 minutes of scripts, one at a time) while the other
// works through the rest: the end-to-end conversions next, the quick
// integration and unit files last, shared by both workers once compat ends.
// Within each group, vitest's own order (slowest first, from its cache).
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const rank = (file: string): number => (file.endsWith('/test/e2e/compat.test.ts') ? 0 : file.includes('/test/e2e/') ? 1 : 2);

export default class CompatFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f.moduleId) - rank(b.f.moduleId) || a.i - b.i).map(({ f }) => f);
  }
}
