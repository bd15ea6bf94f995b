import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Native addons and subprocess servers: each test file in its own process.
    pool: 'forks',
    // Two files at a time whatever the machine, longest first
    // (test/sequencer.ts): virt-v2v's compat scripts in one worker,
    // everything else in the other. On the project's
    // 2-core machines each keeps one core busy with a TCG appliance or a
    // boot; more at once only slows every one of them.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    reporters: ['default'],
  },
});
