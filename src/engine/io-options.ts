// virt-v2v's -io and -oo (input and output options, OPTION[=VALUE]), with
// `-io ?` / `-oo ?` listing them, in virt-v2v's words (input_*.ml,
// output_*.ml). None of our inputs takes one. -o local and -o qemu take
// `-oo compressed[=BOOL]` (a compressed qcow2: JobOptions' output.compressed,
// where its checks live); -o qemu's `-oo qemu-boot` is refused by name; -o
// json takes `-oo json-disks-pattern=PATTERN` (checked in disk-names.ts).
import { ConfigError } from '../errors.js';

/** `-io ?`: the text virt-v2v prints for an input mode without options (all of ours). */
export function inputOptionsHelp(): string {
  return 'No input options can be used in this mode.\n';
}

const COMPRESSED_HELP = '  -oo compressed      Compress the output file (used only with -of qcow2)\n';

/** `-oo ?` for -o TYPE, as virt-v2v 2.2 prints it (-o local is its -o disk). */
export function outputOptionsHelp(type: string): string {
  if (type === 'local') return `Output options that can be used with -o disk:\n\n${COMPRESSED_HELP}`;
  if (type === 'qemu') {
    return `Output options (-oo) which can be used with -o qemu:\n\n${COMPRESSED_HELP}  -oo qemu-boot       Boot the guest in qemu after conversion\n`;
  }
  if (type === 'libvirt') return `Output options that can be used with -o libvirt:\n${COMPRESSED_HELP}`;
  if (type === 'json') {
    return 'Output options (-oo) which can be used with -o json:\n\n  -oo json-disks-pattern=PATTERN   Pattern for the disks.\n\nPATTERN may use %{GuestName}, %{DiskNo} (1, 2, ...) and %{DiskDeviceName} (sda, sdb, ...);\nthe default is %{GuestName}-%{DiskDeviceName}.\n';
  }
  return 'No output options can be used in this mode.\n';
}

/** Check -io: virt-v2v's "no -io (input options) are allowed here". */
export function checkIoOptions(options: string[]): void {
  if (options.length > 0) throw new ConfigError('no -io (input options) are allowed here');
}

/** What -oo sets, for the output options (OutputOptionsSchema). */
export interface OoSettings {
  compressed?: boolean;
  diskPattern?: string;
}

/** OCaml's bool_of_string, which virt-v2v applies to an option's value. */
function bool(type: string, key: string, value: string): boolean {
  if (value === '' || value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(`-o ${type}: -oo ${key}=${value}: expected true or false`);
}

/** Parse -oo for -o TYPE; each refusal in virt-v2v's words where it has them. */
export function parseOoOptions(type: string, options: string[]): OoSettings {
  if (options.length === 0) return {};
  if (type !== 'local' && type !== 'qemu' && type !== 'json' && type !== 'libvirt') throw new ConfigError('no -oo (output options) are allowed here');
  const settings: OoSettings = {};
  for (const o of options) {
    const eq = o.indexOf('=');
    const [k, v] = eq < 0 ? [o, ''] : [o.slice(0, eq), o.slice(eq + 1)];
    if (k === 'compressed' && type !== 'json') settings.compressed = bool(type, k, v);
    else if (k === 'json-disks-pattern' && type === 'json') {
      if (settings.diskPattern !== undefined) throw new ConfigError('-o json: -oo json-disks-pattern set more than once');
      settings.diskPattern = v;
    }
    else if (k === 'qemu-boot' && type === 'qemu') {
      throw new ConfigError('-o qemu: -oo qemu-boot: booting the converted guest is not supported: run the written script (NAME.sh) yourself');
    } else throw new ConfigError(`-o ${type}: unknown output option ‘-oo ${k}’`);
  }
  return settings;
}
