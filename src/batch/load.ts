// loadPlan(file): a batch plan from a JSON or YAML file (plan.ts validates
// it). Relative paths in the guests' options (disks, metadata files, -os,
// -ip, log and work dirs) are taken from the plan file's directory, so a
// plan can sit next to the guests it names and be run from anywhere.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { JobOptions } from '../engine/options.js';
import { ConfigError } from '../errors.js';
import { errnoText } from '../util/errno.js';
import { parsePlan, type Plan } from './plan.js';

/** A plan is a few KiB; a 16 MiB file is not a plan (and is not read into memory). */
const MAX_PLAN_BYTES = 16 * 1024 * 1024;

async function readText(file: string): Promise<string> {
  let fh;
  try {
    // O_NONBLOCK: a FIFO named as the plan must not hang the command.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new ConfigError(`${file}: not a regular file`);
    if (st.size > MAX_PLAN_BYTES) throw new ConfigError(`${file}: ${st.size} bytes is too large for a plan`);
    return await fh.readFile('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${file}: ${errnoText(err)}`, { cause: err });
  } finally {
    await fh?.close();
  }
}

/** JSON for *.json, else YAML (which also reads JSON). */
function parseText(file: string, text: string): unknown {
  const json = file.toLowerCase().endsWith('.json');
  try {
    return json ? JSON.parse(text) : parseYaml(text, { prettyErrors: false, maxAliasCount: 100 });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(`${file}: not valid ${json ? 'JSON' : 'YAML'}: ${msg}`, { cause: err });
  }
}

const isUri = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** The job's options with its relative paths taken from DIR. */
export function resolvePaths(o: JobOptions, dir: string): JobOptions {
  const abs = (p: string) => path.resolve(dir, p);
  const i = o.input;
  const input: JobOptions['input'] =
    i.type === 'disk'
      ? { ...i, files: i.files.map(abs) }
      : i.type === 'vmx'
        ? { ...i, file: isUri(i.file) ? i.file : abs(i.file), ...(i.passwordFile !== undefined ? { passwordFile: abs(i.passwordFile) } : {}) }
        : i.type === 'libvirt'
          ? i // a guest name and a URI: no path of the plan's
          : { ...i, file: abs(i.file) };
  return {
    ...o,
    input,
    // -o libvirt's -os is a pool's name, not a path.
    output: { ...o.output, ...(o.output.storage !== undefined && o.output.type !== 'libvirt' ? { storage: abs(o.output.storage) } : {}) },
    ...(o.logDir !== undefined ? { logDir: abs(o.logDir) } : {}),
    ...(o.workParent !== undefined ? { workParent: abs(o.workParent) } : {}),
  };
}

/** Read, parse and validate a plan file; one ConfigError line on any problem. */
export async function loadPlan(file: string): Promise<Plan> {
  const raw = parseText(file, await readText(file));
  const plan = parsePlan(raw, { name: file });
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(dir, p);
  return {
    ...plan,
    guests: plan.guests.map((g) => ({
      ...g,
      ...(g.options ? { options: resolvePaths(g.options, dir) } : {}),
      ...(g.warm ? { warm: { ...g.warm, state: abs(g.warm.state), ...(g.warm.changed ? { changed: g.warm.changed.map(abs) } : {}) } } : {}),
    })),
  };
}
