// optionsFromArgs: a virt-v2v command line (the words `v2v` takes, as an
// array) turned into a job's options (options.ts), exactly as the CLI and
// `v2v batch` do it. What only concerns rendering (--machine-readable, -q,
// --help) is returned beside the options by commandLine().
import { ConfigError } from '../errors.js';
import { parseV2vArgs, type V2vArgs } from './command-line.js';
import { earlyChecks, outputChecks } from './compat-args.js';
import { connectionProblem } from '../steps/input/libvirt/uri.js';
import { isCleanText } from '../util/text.js';
import { JobOptions, OutputType, parseJobOptions, type JobOptionsInput } from './options.js';

export const INPUTS = ['disk', 'libvirt', 'libvirtxml', 'vmx', 'ova'] as const;

export interface CommandLine {
  args: V2vArgs;
  /** The job's options, not yet validated (see parseJobOptions). */
  raw: JobOptionsInput;
}

/** virt-v2v's words for missing (or too many) files, which scripts grep. */
const EXPECTING: Record<string, string> = {
  disk: 'expecting a disk image (filename) on the command line',
  libvirtxml: 'expecting a libvirt XML filename on the command line',
  vmx: 'expecting a VMX file or ssh:// URI',
  ova: 'expecting an OVA file name on the command line',
};

/** The input options of a command line (-i, -if, -it, -ip and the files). */
function inputOf(a: V2vArgs): JobOptionsInput['input'] {
  if (!(INPUTS as readonly string[]).includes(a.inputType)) {
    throw new ConfigError(`-i ${a.inputType}: input type not supported yet (supported: -i disk, -i libvirt, -i libvirtxml, -i vmx, -i ova)`);
  }
  if (a.inputType === 'libvirt') return libvirtInput(a);
  if (a.inputConnection !== undefined) throw new ConfigError(`-ic: only for -i libvirt, not -i ${a.inputType}`);
  if (a.files.length === 0) throw new ConfigError(`-i ${a.inputType}: ${EXPECTING[a.inputType]}`);
  if (a.inputType === 'disk') {
    if (a.inputTransport !== undefined) throw new ConfigError(`-it ${a.inputTransport}: only for -i vmx, not -i disk`);
    if (a.inputPasswordFile !== undefined) throw new ConfigError('-ip: only with -it ssh');
    return { type: 'disk', files: a.files, ...(a.inputFormat ? { format: a.inputFormat } : {}) };
  }
  if (a.files.length > 1) throw new ConfigError(`-i ${a.inputType}: ${EXPECTING[a.inputType]} (got ${a.files.length} arguments)`);
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

/** -i libvirt [-ic URI] GUEST (virt-v2v's default input): one guest name; the URI is checked by options.ts. */
function libvirtInput(a: V2vArgs): JobOptionsInput['input'] {
  const connection = a.inputConnection !== undefined ? { connection: a.inputConnection } : {};
  // The URI first: with vpx:// (and -it vddk), the one thing to say is that VMware input is not here.
  const bad = a.inputConnection !== undefined && isCleanText(a.inputConnection) ? connectionProblem(a.inputConnection) : undefined;
  if (bad !== undefined) throw new ConfigError(bad);
  if (a.files.length !== 1) throw new ConfigError('-i libvirt: expecting a libvirt guest name on the command line');
  if (a.inputFormat) throw new ConfigError('-if: only for -i disk (-i libvirt says each disk\'s format)');
  if (a.inputTransport !== undefined) throw new ConfigError(`-it ${a.inputTransport}: only for -i vmx, not -i libvirt`);
  if (a.inputPasswordFile !== undefined) throw new ConfigError('-ip: only with -it ssh (-i libvirt: libvirt and ssh ask for passwords themselves)');
  return { type: 'libvirt', ...connection, guest: a.files[0]! };
}

/** --in-place takes virt-v2v-in-place's options: no output but -O (the options themselves check the input). */
function inPlaceChecks(a: V2vArgs): void {
  const given = [
    a.outputType !== 'libvirt' ? '-o' : undefined,
    a.outputStorage !== undefined ? '-os' : undefined,
    a.outputConnection !== undefined ? '-oc' : undefined,
    a.outputFormat !== 'raw' ? '-of' : undefined,
    a.outputAllocation !== 'sparse' ? '-oa' : undefined,
    a.outputOptions.length ? '-oo' : undefined,
  ].filter((x) => x !== undefined);
  if (given.length) throw new ConfigError(`--in-place: ${given.join(', ')}: no output options (the disks are converted where they are; -O FILE writes the guest's XML)`);
}

/** Parse a command line into the job's raw options and the CLI's own flags. */
export function commandLine(argv: string[]): CommandLine {
  const a = parseV2vArgs(argv);
  const convert = earlyChecks(a);
  const input = inputOf(a);
  if (a.inPlace) inPlaceChecks(a);
  else if (a.inPlaceOutput !== undefined) throw new ConfigError('-O: only with --in-place (a copying conversion writes its metadata into -os)');
  if (!a.inPlace && !a.printSource && !(OutputType.options as readonly string[]).includes(a.outputType)) {
    throw new ConfigError(`-o ${a.outputType}: output type not supported (supported: ${OutputType.options.map((t) => `-o ${t}`).join(', ')})`);
  }
  const oo = a.inPlace ? {} : outputChecks(a);
  const raw: JobOptionsInput = {
    input,
    network: { bridges: a.bridges, networks: a.networks, macs: a.macs },
    ...(a.inPlace ? { inPlace: true, ...(a.inPlaceOutput !== undefined ? { inPlaceOutput: a.inPlaceOutput } : {}) } : {}),
    ...((a.printSource && !(OutputType.options as readonly string[]).includes(a.outputType)) || a.inPlace
      ? {}
      : {
          output: {
            type: a.outputType as JobOptions['output']['type'],
            ...(a.outputStorage ? { storage: a.outputStorage } : {}),
            ...(a.outputConnection !== undefined ? { connection: a.outputConnection } : {}),
            format: a.outputFormat,
            allocation: a.outputAllocation,
            ...oo,
          },
        }),
    ...(a.outputName ? { name: a.outputName } : {}),
    noConvert: a.noConvert,
    printSourceOnly: a.printSource,
    ...(a.allowRemoteBacking ? { allowRemoteBacking: true } : {}),
    ...(a.logDir ? { logDir: a.logDir } : {}),
    logLevel: a.verbose || a.trace ? 'trace' : 'debug',
    ...convert,
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
