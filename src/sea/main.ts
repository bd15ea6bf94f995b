// The single-file binary's entry (`npm run build:binary` writes dist/v2v).
// Node's single executable applications run one injected script and cannot
// load a native addon or start a worker thread from memory, so the package's
// runtime files travel as assets of the binary (scripts/build-binary.mjs: the
// bundles, piscina, the addon, the netns launcher) and are written once into
// a private directory of this user, then run from there as `node bin/v2v.js`
// would run them. The directory is checked before it is used: ours, a real
// directory (no link), mode 0700, and complete for this very build (a marker
// holding the build's id, written last). A missing or incomplete one is
// written anew: into a temporary sibling, each file checked against its
// SHA-256 from the manifest, then renamed into place (two starts at once: the
// first rename wins, the other uses it). Bundled as CommonJS by
// build-binary.mjs; it needs nothing but Node's built-in modules.
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as sea from 'node:sea';

interface Manifest {
  /** SHA-256 over the build: the directory's name and marker. */
  id: string;
  files: { path: string; sha256: string; mode: number }[];
}

const MARKER = '.v2v-complete';

function fail(message: string): never {
  process.stderr.write(`v2v: error: ${message}\n`);
  process.exit(1);
}

/** Whether DIR is a real directory of UID's with no access for others: 'ok', 'missing', or what is wrong with it. */
function privateDir(dir: string, uid: number): string {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return 'missing';
  }
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== uid) return `is owned by uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o077) !== 0) return `has mode ${(st.mode & 0o777).toString(8)}, not 700`;
  return 'ok';
}

function complete(dir: string, m: Manifest): boolean {
  try {
    return readFileSync(path.join(dir, MARKER), 'utf8') === m.id;
  } catch {
    return false;
  }
}

function extract(final: string, m: Manifest): void {
  const tmp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
  mkdirSync(tmp, { mode: 0o700 });
  try {
    for (const f of m.files) {
      const data = Buffer.from(sea.getAsset(`f/${f.path}`));
      if (createHash('sha256').update(data).digest('hex') !== f.sha256) fail(`the binary's copy of ${f.path} is damaged (checksum)`);
      const to = path.join(tmp, f.path);
      mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
      writeFileSync(to, data, { mode: f.mode, flag: 'wx' });
    }
    writeFileSync(path.join(tmp, MARKER), m.id, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, final);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another start of the same build renamed its copy into place first.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
}

/** The private directory holding this build's files, written if needed. */
function runtimeDir(m: Manifest): string {
  const uid = process.getuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  const base = xdg && path.isAbsolute(xdg) && privateDir(xdg, uid) === 'ok' ? xdg : os.tmpdir();
  // Not "v2v-*" like a job's work dir: nothing may take it for one.
  const dir = path.join(base, `v2v.binary-${uid}-${m.id.slice(0, 16)}`);
  const state = privateDir(dir, uid);
  if (state === 'ok' && complete(dir, m)) return dir;
  if (state !== 'ok' && state !== 'missing') fail(`refusing to run from ${dir}: it ${state}`);
  // Ours but incomplete (a start that died while writing it): written anew.
  if (state === 'ok') rmSync(dir, { recursive: true, force: true });
  extract(dir, m);
  const again = privateDir(dir, uid);
  if (again !== 'ok' || !complete(dir, m)) fail(`refusing to run from ${dir}: it ${again === 'ok' ? 'is incomplete' : again}`);
  return dir;
}

const manifest = JSON.parse(sea.getAsset('manifest.json', 'utf8')) as Manifest;
const dir = runtimeDir(manifest);
// A single executable's argv is [binary, the name it was run by, ...arguments]:
// as `node DIR/bin/v2v.js ARGS...`, argv[1] becomes the script.
const entry = path.join(dir, 'bin', 'v2v.js');
process.argv[1] = entry;
(Module as unknown as { runMain(main?: string): void }).runMain(entry);
