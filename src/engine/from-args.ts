// optionsFromArgs: a virt-v2v command line (the words `v2v` takes, as an
// array) turned into a job's options (options.ts), exactly as the CLI and
// `v2v batch` do it. What only concerns rendering (--machine-readable, -q,
// --help) is returned beside the options by commandLine().
import { ConfigError } from '../errors.js';
import { parseV2vArgs, type V2vArgs } from './command-line.js';
import { JobOptions, OutputType, parseJobOptions, type JobOptionsInput } from './options.js';

const INPUTS = ['disk', 'libvirtxml', 'vmx', 'ova'] as const;

export interface CommandLine {
  args: V2vArgs;
  /** The job's options, not yet validated (see parseJobOptions). */
  raw: JobOptionsInput;
}

/** The input options of a command line (-i, -if, -it, -ip and the files). */
function inputOf(a: V2vArgs): JobOptionsInput['input'] {
  if (!(INPUTS as readonly string[]).includes(a.inputType)) {
    throw new ConfigError(`-i ${a.inputType}: input type not supported yet (supported: -i disk, -i libvirtxml, -i vmx, -i ova)`);
  }
  if (a.files.length === 0) throw new ConfigError(`-i ${a.inputType}: no ${a.inputType === 'disk' ? 'disk image' : 'file'} given`);
  if (a.inputType === 'disk') {
    if (a.inputTransport !== undefined) throw new ConfigError(`-it ${a.inputTransport}: only for -i vmx, not -i disk`);
    if (a.inputPasswordFile !== undefined) throw new ConfigError('-ip: only with -it ssh');
    return { type: 'disk', files: a.files, ...(a.inputFormat ? { format: a.inputFormat } : {}) };
  }
  if (a.files.length > 1) throw new ConfigError(`-i ${a.inputType}: expected one file, got ${a.files.length}`);
  if (a.inputFormat) throw new ConfigError(`-if: only for -i disk (-i ${a.inputType} says each disk's format)`);
  const file = a.files[0]!;
  if (a.inputTransport !== undefined && a.inputTransport !== 'ssh') {
    throw new ConfigError(`-it ${a.inputTransport}: input transport not supported (supported: -it ssh)`);
  }
  if (a.inputType === 'vmx') {
    return {
      type: 'vmx',
      file,
      ...(a.inputTransport ? { transport: 'ssh' as const } : {}),
      ...(a.inputPasswordFile !== undefined ? { passwordFile: a.inputPasswordFile } : {}),
    };
  }
  if (a.inputTransport !== undefined) throw new ConfigError(`-it ssh: only for -i vmx, not -i ${a.inputType}`);
  if (a.inputPasswordFile !== undefined) throw new ConfigError('-ip: only with -it ssh');
  return { type: a.inputType as 'libvirtxml' | 'ova', file };
}

/** Parse a command line into the job's raw options and the CLI's own flags. */
export function commandLine(argv: string[]): CommandLine {
  const a = parseV2vArgs(argv);
  const input = inputOf(a);
  if (!a.printSource && !(OutputType.options as readonly string[]).includes(a.outputType)) {
    throw new ConfigError(`-o ${a.outputType}: output type not supported (supported: -o local, -o qemu, -o null)`);
  }
  const raw: JobOptionsInput = {
    input,
    network: { bridges: a.bridges, networks: a.networks, macs: a.macs },
    ...(a.printSource && !(OutputType.options as readonly string[]).includes(a.outputType)
      ? {}
      : {
          output: {
            type: a.outputType as JobOptions['output']['type'],
            ...(a.outputStorage ? { storage: a.outputStorage } : {}),
            format: a.outputFormat,
            allocation: a.outputAllocation,
          },
        }),
    ...(a.outputName ? { name: a.outputName } : {}),
    noConvert: a.noConvert,
    printSourceOnly: a.printSource,
    ...(a.allowRemoteBacking ? { allowRemoteBacking: true } : {}),
    ...(a.logDir ? { logDir: a.logDir } : {}),
    logLevel: a.verbose || a.trace ? 'trace' : 'debug',
  };
  return { args: a, raw };
}

/**
 * A virt-v2v command line as the job's options, validated:
 * `optionsFromArgs(['-i', 'disk', 'a.img', '-o', 'local', '-os', dir])`.
 * Throws a ConfigError with one line, as `v2v` prints it.
 */
export function optionsFromArgs(argv: readonly string[]): JobOptions {
  if (!Array.isArray(argv) || argv.some((w) => typeof w !== 'string')) throw new TypeError('optionsFromArgs: expected an array of strings');
  return parseJobOptions(commandLine([...argv]).raw);
}
