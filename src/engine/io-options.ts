// virt-v2v's -io and -oo (input and output options, OPTION[=VALUE]), with
// `-io ?` / `-oo ?` listing them, in virt-v2v's words (input_*.ml,
// output_*.ml). None of our inputs or outputs takes one yet, so `?` prints
// virt-v2v's text for a mode without options. Those virt-v2v 2.2 has for
// -o local and -o qemu are refused by name, not as unknown:
// `-oo compressed` (a compressed qcow2) and `-oo qemu-boot`.
import { ConfigError } from '../errors.js';

/** virt-v2v's output options that we do not take (yet), by -o: OPTION -> why. */
const NOT_YET: Record<string, Record<string, string>> = {
  local: { compressed: 'a compressed qcow2 output is not supported yet' },
  qemu: {
    compressed: 'a compressed qcow2 output is not supported yet',
    'qemu-boot': 'booting the converted guest is not supported: run the written script (NAME.sh) yourself',
  },
};

/** `-io ?`: the text virt-v2v prints for an input mode without options (all of ours). */
export function inputOptionsHelp(): string {
  return 'No input options can be used in this mode.\n';
}

/** `-oo ?` for any of our outputs: none takes an option. */
export function outputOptionsHelp(): string {
  return 'No output options can be used in this mode.\n';
}

/** Check -io: virt-v2v's "no -io (input options) are allowed here". */
export function checkIoOptions(options: string[]): void {
  if (options.length > 0) throw new ConfigError('no -io (input options) are allowed here');
}

/** Check -oo for -o TYPE; each refusal in virt-v2v's words where it has them. */
export function checkOoOptions(type: string, options: string[]): void {
  const notYet = NOT_YET[type];
  if (options.length === 0) return;
  if (!notYet) throw new ConfigError('no -oo (output options) are allowed here');
  const k = options[0]!.split('=')[0]!;
  const why = notYet[k];
  if (why !== undefined) throw new ConfigError(`-o ${type}: -oo ${k}: ${why}`);
  throw new ConfigError(`-o ${type}: unknown output option ‘-oo ${k}’`);
}
