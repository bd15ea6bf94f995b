// Our version, for `v2v --version`: a module of its own, so that printing
// it loads nothing else (src/cli/main.ts answers a bare --version first).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Our version, from the package.json above this module (src/util/, dist/src/util/ or dist/bundle/). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = path.join(dir, 'package.json');
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'v2v-engine' && pkg.version) return pkg.version;
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** `v2v --version`: one line, as virt-v2v's `virt-v2v 2.2.0`. */
export function versionLine(): string {
  return `v2v ${packageVersion()}\n`;
}
