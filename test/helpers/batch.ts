// `v2v batch --machine-readable`'s JSON lines, each checked against
// BatchEvent (the CLI adds a timestamp to each line, checked and dropped).
import { expect } from 'vitest';
import { BatchEvent } from '../../src/batch/events.js';

export function batchEvents(stdout: string): BatchEvent[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => {
      const { timestamp, ...e } = JSON.parse(l) as { timestamp: string };
      expect(Date.parse(timestamp)).not.toBeNaN();
      return BatchEvent.parse(e);
    });
}
