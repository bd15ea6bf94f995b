// The fixtures of fixtures.ts plus `open`: NbdHandles closed after each test
// and before the servers stop (nbdkit 1.32 does not exit on SIGTERM while a
// client is still connected, so the order matters).
import { NbdHandle } from '../../src/nbd/handle.js';
import { test as base } from './fixtures.js';

export const test = base.extend<{ open: (name?: string, options?: { metaContexts?: string[] }) => NbdHandle }>({
  open: async ({ nbdkit, qemuNbd }, use) => {
    void nbdkit;
    void qemuNbd;
    const handles: NbdHandle[] = [];
    await use((name = 'test', options = {}) => {
      const h = new NbdHandle(name, options);
      handles.push(h);
      return h;
    });
    for (const h of handles) h.close();
  },
});
