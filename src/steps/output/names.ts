// How long a guest name may be. -o libvirt makes volumes NAME-sda, ... in
// its pool's directory (no partial names: the domain, defined last, is what
// makes the output complete). -o local, qemu, json and kubevirt write, in
// -os DIR, NAME-sda, NAME-sdb, ..., NAME.xml|sh|json|yaml, each first under its
// hidden partial name (.NAME-sda.v2v-partial, disks.ts); every one of
// them must fit in NAME_MAX bytes, or output setup fails with
// ENAMETOOLONG after the conversion has run. So the name is checked with
// the options, before anything starts, leaving room for two drive letters
// (sdzz: 702 disks), counted in UTF-8 bytes as the kernel counts them.
import { driveName } from '../../util/drive-name.js';
import { showText } from '../../util/text.js';
import { PARTIAL_SUFFIX } from './disks.js';

/** Linux's limit on one file name, in bytes (ext4, xfs, btrfs, tmpfs). */
export const NAME_MAX = 255;

/** The disk with the longest name the check allows for: index 701, sdzz. */
export const LONGEST_DISK_INDEX = 701;

/** Every -o mode: libvirt (a pool and a domain), the outputs that write files into -os DIR, and null. The one list (options, wire, output.json). */
export const OUTPUT_TYPES = ['libvirt', 'local', 'qemu', 'json', 'kubevirt', 'null'] as const;

export type OutputType = (typeof OUTPUT_TYPES)[number];

/** The outputs that write files into -os DIR. */
export type FileOutputType = Exclude<OutputType, 'null' | 'libvirt'>;

/** The metadata file each of them writes beside the disks (NAME + suffix), and its mode. */
export const METADATA_FILE: Record<FileOutputType, { suffix: string; mode: number }> = {
  local: { suffix: '.xml', mode: 0o644 },
  qemu: { suffix: '.sh', mode: 0o755 },
  json: { suffix: '.json', mode: 0o644 },
  kubevirt: { suffix: '.yaml', mode: 0o644 },
};

/**
 * The file names -o TYPE writes for guest NAME, longest disk first: as
 * diskPaths() and partialOf() make them (their base names).
 */
export function outputFileNames(type: FileOutputType | 'libvirt', name: string): string[] {
  const disk = `${name}-sd${driveName(LONGEST_DISK_INDEX)}`;
  if (type === 'libvirt') return [disk];
  const meta = `${name}${METADATA_FILE[type].suffix}`;
  return [`.${disk}${PARTIAL_SUFFIX}`, disk, `.${meta}${PARTIAL_SUFFIX}`, meta];
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The longest guest name, in UTF-8 bytes, whose output files all fit in NAME_MAX. */
export function maxNameBytes(type: FileOutputType | 'libvirt'): number {
  return NAME_MAX - Math.max(...outputFileNames(type, '').map(bytes));
}

/**
 * Why guest NAME is too long for -o TYPE, in one line naming -on and the
 * limit; undefined when it fits (-o null writes no file).
 */
export function nameLengthProblem(type: OutputType, name: string): string | undefined {
  if (type === 'null') return undefined;
  const max = maxNameBytes(type);
  const n = bytes(name);
  if (n <= max) return undefined;
  return (
    `-on ${showText(name, 40)}: the guest name is ${n} bytes long; -o ${type} allows at most ${max} bytes (UTF-8), ` +
    `as every file it writes (such as ${outputFileNames(type, 'NAME')[0]}) must fit in ${NAME_MAX} bytes`
  );
}
