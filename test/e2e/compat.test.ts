// Slow tier: virt-v2v 2.2.0's own test scripts against our CLI (issue 10),
// the main group of test/compat (`run.sh --group main`: all but the five
// Fedora conversions, which compat-fedora.test.ts runs), one script at a
// time in a vitest worker of its own beside the rest of the suite
// (test/sequencer.ts). Together the two files run all 39; `npm run compat`
// runs the whole list by hand. The runner builds virt-v2v's phony test
// guests once into .cache/compat (kept between runs); each script runs as
// virt-v2v's `make check` would run it, with our CLI first on PATH as
// `virt-v2v`.
import { describe, test } from 'vitest';
import { compatNeeds, expectGroupPasses } from '../helpers/compat.js';

describe.skipIf(compatNeeds.length > 0)("virt-v2v's test scripts (main group)", () => {
  test('every script passes with our CLI as virt-v2v', { timeout: 55 * 60_000 }, () => expectGroupPasses('main', 34));
});
