// The output options checked before anything is done (the pipeline's
// pre-flight, `v2v output setup`, and setup itself again): the name makes
// names that fit NAME_MAX (names.ts), name and -os are valid UTF-8 text,
// the mode's own rules (compressed, json-disks-pattern, kubevirt), and the
// target: -os DIR exists, is writable and holds nothing this output would
// write (virt-v2v refuses to overwrite); -o libvirt's connection, pool and
// domain name (libvirt/target.ts). The disk count is not known yet, so every
// NAME-sd<letters> counts; setup checks the exact names again.
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, InputError } from '../../errors.js';
import { NOT_UTF8, isCleanText, showText } from '../../util/text.js';
import { compressedProblem } from './compressed.js';
import { PARTIAL_SUFFIX } from './disks.js';
import { diskBaseName, diskNameTest, diskPatternProblem } from './disk-names.js';
import { kubeNameProblem } from './kubevirt-yaml.js';
import { libvirtPreflight, type LibvirtTarget } from './libvirt/target.js';
import { LONGEST_DISK_INDEX, METADATA_FILE, NAME_MAX, OUTPUT_TYPES, nameLengthProblem, type OutputType } from './names.js';

export type { OutputType } from './names.js';

export interface OutputOptions {
  type: OutputType;
  /** -os: DIR for local, qemu, json and kubevirt; -o libvirt's POOL (default "default"). */
  storage?: string;
  /** -oc URI: -o libvirt's connection (default: libvirt's). */
  connection?: string;
  /** -of */
  format: 'raw' | 'qcow2';
  /** -oa */
  allocation: 'sparse' | 'preallocated';
  /** -oo compressed: a compressed qcow2 (compressed.ts). */
  compressed?: boolean;
  /** -o json's -oo json-disks-pattern (disk-names.ts). */
  diskPattern?: string;
  /** -on, else the source name. */
  name: string;
  /** Servers outlive this process (`v2v output setup`); see StartOptions.detach. */
  detach?: boolean;
}

export function metadataFile(o: OutputOptions): string | undefined {
  return o.type === 'null' || o.type === 'libvirt' ? undefined : path.resolve(o.storage!, `${o.name}${METADATA_FILE[o.type].suffix}`);
}

/** Names the output of guest NAME may write in its directory: NAME-sd<letters>, NAME.xml|sh, their partials. */
export function isOurName(o: OutputOptions, entry: string): boolean {
  const base = entry.startsWith('.') && entry.endsWith(PARTIAL_SUFFIX) ? entry.slice(1, -PARTIAL_SUFFIX.length) : entry;
  const rest = base.startsWith(o.name) ? base.slice(o.name.length) : undefined;
  const meta = o.type === 'null' || o.type === 'libvirt' ? undefined : METADATA_FILE[o.type].suffix;
  return diskNameTest(o.name, o.diskPattern).test(base) || (meta !== undefined && rest === meta);
}

/** The checks that need nothing but the options. */
function checkOptionsAlone(o: OutputOptions): void {
  if (!(OUTPUT_TYPES as readonly string[]).includes(o.type)) throw new ConfigError(`-o ${String(o.type)}: unknown output mode`);
  if (o.connection !== undefined && o.type !== 'libvirt') throw new ConfigError(`-oc: only for -o libvirt, not -o ${o.type}`);
  if (o.type === 'null') return;
  if (o.format !== 'raw' && o.format !== 'qcow2') {
    throw new ConfigError(`-of ${String(o.format)}: -o ${o.type} writes raw or qcow2 only`);
  }
  if (o.allocation !== 'sparse' && o.allocation !== 'preallocated') {
    throw new ConfigError(`-oa ${String(o.allocation)}: expected sparse or preallocated`);
  }
  if (o.diskPattern !== undefined) {
    if (o.type !== 'json') throw new ConfigError(`-o ${o.type}: unknown output option ‘-oo json-disks-pattern’`);
    const bad = diskPatternProblem(o.diskPattern);
    if (bad !== undefined) throw new ConfigError(bad);
    const longest = `.${diskBaseName(o.name, LONGEST_DISK_INDEX, o.diskPattern)}${PARTIAL_SUFFIX}`;
    if (Buffer.byteLength(longest) > NAME_MAX) {
      throw new ConfigError(`-o json: -oo json-disks-pattern=${o.diskPattern}: names such as ${longest} would not fit in ${NAME_MAX} bytes`);
    }
  }
  const notCompressed = compressedProblem(o);
  if (notCompressed !== undefined) throw new ConfigError(notCompressed);
  // The name becomes file names, an XML text and a qemu option value.
  if (!o.name || o.name.includes('/') || /[\u0000-\u001f\u007f]/.test(o.name) || o.name === '.' || o.name === '..') {
    throw new ConfigError(`-on ${JSON.stringify(o.name)}: a guest name must be non-empty, without "/" or control characters`);
  }
  if (!isCleanText(o.name)) throw new ConfigError(`-on ${showText(o.name)}: ${NOT_UTF8}`);
  if (o.type === 'kubevirt') {
    const bad = kubeNameProblem(o.name);
    if (bad !== undefined) throw new ConfigError(bad);
    if (o.format !== 'raw') throw new ConfigError(`-o kubevirt: -of ${o.format}: KubeVirt's hostDisk volumes are raw disk images (-of raw)`);
  }
  const tooLong = nameLengthProblem(o.type, o.name);
  if (tooLong !== undefined) throw new ConfigError(tooLong);
  if (o.type === 'libvirt') {
    if (o.storage !== undefined && (o.storage === '' || !isCleanText(o.storage) || /[\u0000-\u001f\u007f]/.test(o.storage))) {
      throw new ConfigError(`-os ${showText(o.storage)}: not a libvirt storage pool name`);
    }
    return;
  }
  if (o.storage === undefined || o.storage === '') {
    throw new ConfigError(`-o ${o.type}: output directory was not specified, use '-os /dir'`);
  }
  if (!isCleanText(o.storage)) throw new ConfigError(`-os ${showText(o.storage)}: ${NOT_UTF8}`);
}

/** -os DIR: a writable directory holding nothing this output would write. */
function checkOutputDir(o: OutputOptions): void {
  const dir = path.resolve(o.storage!);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new InputError(`-os ${o.storage}: output directory does not exist`);
  }
  if (!st.isDirectory()) throw new InputError(`-os ${o.storage}: not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new InputError(`-os ${o.storage}: output directory is not writable`);
  }
  const clash = readdirSync(dir)
    .filter((e) => isOurName(o, e))
    .sort()
    .map((e) => path.join(dir, e));
  if (clash.length) {
    throw new InputError(
      `-o ${o.type}: ${clash.join(', ')} already ${clash.length === 1 ? 'exists' : 'exist'}: virt-v2v does not overwrite; remove ${clash.length === 1 ? 'it' : 'them'} or choose another name with -on`,
    );
  }
}

/**
 * Check the output options and their target before anything is done; for
 * -o libvirt, the target found (connection, pool and its directory).
 */
export async function checkOutputOptions(o: OutputOptions, signal?: AbortSignal): Promise<LibvirtTarget | undefined> {
  checkOptionsAlone(o);
  if (o.type === 'null') return undefined;
  if (o.type === 'libvirt') return libvirtPreflight({ connection: o.connection, storage: o.storage, name: o.name, signal }, (e) => isOurName(o, e));
  checkOutputDir(o);
  return undefined;
}
