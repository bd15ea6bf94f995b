// What virt-v2v prints besides a conversion, in its form, with our name:
// `--version` ("v2v 0.1.0", as virt-v2v prints "virt-v2v 2.2.0"),
// `--machine-readable` alone (the capability words of v2v.ml, only those
// that hold here), and where --machine-readable=FORMAT sends its output
// (tools_utils.ml: file:NAME, fd:N, stream:stdout|stderr), checked with
// virt-v2v's words.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { V2vArgs } from '../engine/command-line.js';
import { getoptChecks } from '../engine/compat-args.js';
import { INPUTS } from '../engine/from-args.js';
import { inputOptionsHelp, outputOptionsHelp } from '../engine/io-options.js';
import { OutputType } from '../engine/options.js';
import { ConfigError } from '../errors.js';


/**
 * `--machine-readable` with no other argument: virt-v2v's capability words,
 * in its order, for what we do: its command line (2.x), --colours, -io/-oo
 * (with `?`), --mac to a network or bridge (not :ip:), our -i and -o modes,
 * Linux and Windows conversion. Not: vcenter-https, xen-ssh, vddk,
 * bandwidth-option, mac-ip-option, vdsm-compat-option, ovf:*.
 */
export function capabilities(): string {
  const sorted = (xs: readonly string[]) => [...xs].sort();
  const words = [
    'virt-v2v',
    'virt-v2v-2.0',
    'libguestfs-rewrite',
    'colours-option',
    'io/oo',
    'mac-option',
    ...sorted(INPUTS).map((i) => `input:${i}`),
    ...sorted(OutputType.options).map((o) => `output:${o}`),
    'convert:linux',
    'convert:windows',
  ];
  return words.map((w) => `${w}\n`).join('');
}

/** All of TEXT to FD (a pipe may take less at a time). */
function writeAll(fd: number, text: string): void {
  let b = Buffer.from(text);
  while (b.length > 0) b = b.subarray(writeSync(fd, b));
}

export interface MachineChannel {
  write(text: string): void;
  close(): void;
}

/** Where --machine-readable[=FORMAT] writes; FORMAT checked as virt-v2v does, the file opened on first use. */
export function machineChannel(format: string | undefined, stdout: (text: string) => void): MachineChannel {
  if (format === undefined) return { write: stdout, close: () => {} };
  const colon = format.indexOf(':');
  const [kind, name] = colon < 0 ? [format, ''] : [format.slice(0, colon), format.slice(colon + 1)];
  if (name === '') throw new ConfigError(`invalid format string for --machine-readable: ${format}`);
  switch (kind) {
    case 'stream':
      if (name === 'stdout') return { write: stdout, close: () => {} };
      if (name === 'stderr') return { write: (t) => void process.stderr.write(t), close: () => {} };
      throw new ConfigError(`invalid output stream for --machine-readable: ${format}`);
    case 'fd': {
      if (!/^\d+$/.test(name)) throw new ConfigError(`invalid output fd for --machine-readable: ${format}`);
      const fd = Number(name);
      return { write: (t) => writeAll(fd, t), close: () => {} };
    }
    case 'file': {
      let fd: number | undefined;
      return {
        write: (t) => writeAll((fd ??= openSync(name, 'w')), t),
        close: () => {
          if (fd !== undefined) closeSync(fd);
          fd = undefined;
        },
      };
    }
    default:
      throw new ConfigError(`invalid output for --machine-readable: ${format}`);
  }
}

/**
 * What virt-v2v prints instead of converting: the capabilities
 * (--machine-readable with no file or guest), `-io ?`, `-oo ?` (for an -i
 * and -o we have; else the command line's own error follows). True if printed.
 */
export function compatQuery(a: V2vArgs, machine: MachineChannel | undefined, out: (text: string) => void): boolean {
  getoptChecks(a);
  if (machine && a.files.length === 0) {
    machine.write(capabilities());
    return true;
  }
  if (a.inputOptions.includes('?') && (INPUTS as readonly string[]).includes(a.inputType)) {
    out(inputOptionsHelp());
    return true;
  }
  if (a.outputOptions.includes('?') && (OutputType.options as readonly string[]).includes(a.outputType)) {
    out(outputOptionsHelp(a.outputType));
    return true;
  }
  return false;
}
