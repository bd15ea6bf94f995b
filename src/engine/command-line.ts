// virt-v2v's command line: single-dash long options (`-os DIR`, `-of qcow2`)
// that ordinary parsers cannot read, also accepted with two dashes and as
// `--opt=VALUE`. A table of the options we support; anything else is an
// error naming the option.
import { ConfigError } from '../errors.js';

export interface V2vArgs {
  inputType: string;
  inputFormat?: string;
  /** -it ssh: the input's file is ssh://[user@]host[:port]/path (-i vmx). */
  inputTransport?: string;
  /** -ip FILE: a file holding the input's password (never the password itself). */
  inputPasswordFile?: string;
  /** -ic URI: the libvirt connection of -i libvirt (default: libvirt's own default). */
  inputConnection?: string;
  outputType: string;
  outputStorage?: string;
  /** -oc URI: -o libvirt's connection (default: libvirt's own default). */
  outputConnection?: string;
  outputFormat: 'raw' | 'qcow2';
  outputAllocation: 'sparse' | 'preallocated';
  outputName?: string;
  noConvert: boolean;
  /** --in-place: convert the source's own disks (virt-v2v-in-place); no -o. */
  inPlace: boolean;
  /** -O FILE (--in-place): the converted guest's libvirt XML. */
  inPlaceOutput?: string;
  printSource: boolean;
  /** --allow-remote-backing (-i disk): a backing file may be a network location. */
  allowRemoteBacking: boolean;
  machineReadable: boolean;
  /** --machine-readable=FORMAT: where it goes, as virt-v2v: file:NAME, fd:N, stream:stdout|stderr. */
  machineReadableTo?: string;
  /** -V, --version: print the version; like virt-v2v, the rest of the line is not read. */
  version: boolean;
  /** --root ask|single|first|/dev/...: the root filesystem virt-v2v-in-place converts. */
  root?: string;
  /** --key SELECTOR (repeatable): LUKS keys, ID:key:KEY or ID:file:FILE. */
  keys: string[];
  /** -io / -oo OPTION[=VALUE] (repeatable); `?` lists them. */
  inputOptions: string[];
  outputOptions: string[];
  verbose: boolean;
  trace: boolean;
  quiet: boolean;
  logDir?: string;
  help: boolean;
  /** -b in:out / -b out, -n in:out / -n out, --mac MAC:network|bridge:out (repeatable). */
  bridges: string[];
  networks: string[];
  macs: string[];
  files: string[];
}

type Key = keyof V2vArgs;
interface Spec {
  /** None: accepted and ignored. */
  key?: Key;
  value: boolean;
  /** Repeatable: each use adds to a list. */
  list?: boolean;
  /** A flag that may also take `=VALUE` (--machine-readable=FORMAT), kept here. */
  optional?: Key;
  /** The parse ends here (--version). */
  stop?: boolean;
}

const TABLE: Record<string, Spec> = {
  i: { key: 'inputType', value: true },
  if: { key: 'inputFormat', value: true },
  it: { key: 'inputTransport', value: true },
  ip: { key: 'inputPasswordFile', value: true },
  ic: { key: 'inputConnection', value: true },
  o: { key: 'outputType', value: true },
  os: { key: 'outputStorage', value: true },
  oc: { key: 'outputConnection', value: true },
  of: { key: 'outputFormat', value: true },
  oa: { key: 'outputAllocation', value: true },
  on: { key: 'outputName', value: true },
  'no-convert': { key: 'noConvert', value: false },
  'in-place': { key: 'inPlace', value: false },
  O: { key: 'inPlaceOutput', value: true },
  'print-source': { key: 'printSource', value: false },
  'allow-remote-backing': { key: 'allowRemoteBacking', value: false },
  'machine-readable': { key: 'machineReadable', value: false, optional: 'machineReadableTo' },
  V: { key: 'version', value: false, stop: true },
  version: { key: 'version', value: false, stop: true },
  root: { key: 'root', value: true },
  key: { key: 'keys', value: true, list: true },
  io: { key: 'inputOptions', value: true, list: true },
  oo: { key: 'outputOptions', value: true, list: true },
  // virt-v2v's common options that change nothing here: its GC check at
  // exit, colours and wrapping (we print neither), echoed key prompts (we
  // never prompt).
  'debug-gc': { value: false },
  color: { value: false },
  colors: { value: false },
  colour: { value: false },
  colours: { value: false },
  wrap: { value: false },
  'echo-keys': { value: false },
  v: { key: 'verbose', value: false },
  verbose: { key: 'verbose', value: false },
  x: { key: 'trace', value: false },
  q: { key: 'quiet', value: false },
  quiet: { key: 'quiet', value: false },
  'log-dir': { key: 'logDir', value: true },
  b: { key: 'bridges', value: true, list: true },
  bridge: { key: 'bridges', value: true, list: true },
  n: { key: 'networks', value: true, list: true },
  network: { key: 'networks', value: true, list: true },
  mac: { key: 'macs', value: true, list: true },
  h: { key: 'help', value: false },
  help: { key: 'help', value: false },
};

export function parseV2vArgs(argv: string[]): V2vArgs {
  const a: V2vArgs = {
    inputType: 'libvirt',
    outputType: 'libvirt',
    outputFormat: 'raw',
    outputAllocation: 'sparse',
    noConvert: false,
    inPlace: false,
    printSource: false,
    allowRemoteBacking: false,
    machineReadable: false,
    version: false,
    keys: [],
    inputOptions: [],
    outputOptions: [],
    verbose: false,
    trace: false,
    quiet: false,
    help: false,
    bridges: [],
    networks: [],
    macs: [],
    files: [],
  };
  const set = a as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') {
      a.files.push(...argv.slice(i + 1));
      break;
    }
    if (!w.startsWith('-') || w === '-') {
      a.files.push(w);
      continue;
    }
    const body = w.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const spec = TABLE[name];
    if (!spec) throw new ConfigError(`unknown option ${w.split('=')[0]} (see v2v --help)`);
    if (!spec.value) {
      if (eq !== -1 && !spec.optional) throw new ConfigError(`option ${w.split('=')[0]} takes no value`);
      if (eq !== -1) set[spec.optional!] = body.slice(eq + 1);
      if (spec.key) set[spec.key] = true;
      if (spec.stop) return a;
      continue;
    }
    let value: string | undefined = eq === -1 ? argv[++i] : body.slice(eq + 1);
    if (value === undefined || value === '') throw new ConfigError(`option ${w} needs a value`);
    if (spec.list) (set[spec.key!] as string[]).push(value);
    else set[spec.key!] = value;
  }
  if (a.outputFormat !== 'raw' && a.outputFormat !== 'qcow2') {
    throw new ConfigError(`-of ${a.outputFormat}: output format must be raw or qcow2`);
  }
  if (a.outputAllocation !== 'sparse' && a.outputAllocation !== 'preallocated') {
    throw new ConfigError(`-oa ${a.outputAllocation}: output allocation must be sparse or preallocated`);
  }
  return a;
}

export const V2V_USAGE = `usage: v2v -i disk [-if FORMAT] DISK... -o local|qemu|null [-os DIR] [options]
       v2v [-i libvirt] [-ic URI] GUEST -o ... [options]
       v2v -i libvirtxml GUEST.xml | -i vmx GUEST.vmx  -o ... [options]
       v2v -i vmx -it ssh [-ip PASSWORD_FILE] ssh://[USER@]HOST[:PORT]/PATH/GUEST.vmx -o ... [options]

Convert a guest to run on KVM (virt-v2v's command line).
  -i disk             input: local disk image(s), given as arguments
  -i libvirt GUEST    input: a shut-off guest of libvirt (the default input), read with virsh
  -ic URI             -i libvirt: the connection (qemu:///system, test:///FILE.xml, qemu+ssh://, xen+ssh://;
                      default: libvirt's); vpx:// and esx:// (VMware, VDDK) are not supported
  -i libvirtxml FILE  input: a libvirt domain XML (its local disks)
  -i vmx FILE         input: a VMware .vmx (its local disks, vmdk flat or sparse)
  -it ssh             -i vmx over SSH: the .vmx and its flat vmdks on another host (ssh:// URI)
  -ip FILE            -it ssh: the password, read from FILE (else ssh-agent or ~/.ssh keys)
  -i ova FILE|DIR     input: an OVA (tar read in place, manifest checked) or its unpacked directory
  -if FORMAT          input format (default: detected)
  --allow-remote-backing  -i disk: a disk's backing file may be remote (nbd://, http(s)://, json:...)
  -n [IN:]OUT         map source network IN (default: all) to OUT
  -b [IN:]OUT         map source bridge IN (default: all) to OUT
  --mac MAC:network|bridge:OUT   map the NIC with this MAC
  -o local|qemu|json|kubevirt|null  output: disks + libvirt XML, + qemu script, + NAME.json,
                      + KubeVirt VirtualMachine YAML, nothing
  -os DIR             output storage directory
  -of raw|qcow2       output disk format (default: raw)
  -oa sparse|preallocated  output allocation (default: sparse)
  -on NAME            name of the converted guest (default: the source's)
  --no-convert        copy without converting (for guests already at home on KVM)
  --in-place          convert the guest's own disks (-i disk|libvirtxml|libvirt; no -o): the
                      changes are committed into them only once the conversion has succeeded
  -O FILE             --in-place: write the converted guest's libvirt XML to FILE (and FILE.metadata.out)
  --print-source      print what was read from the source and stop
  --root ask|single|first|/dev/DEV  the root filesystem to convert (multi-boot guests)
  --key ID:key:KEY | ID:file:FILE   a LUKS key for the device ID (repeatable)
  -oo ?, -io ?        list the output / input options (none here)
  --machine-readable[=file:NAME|fd:N|stream:stdout|stream:stderr]
                      alone: the capabilities; else one JSON event a line
  -V, --version       print the version
  --debug-gc --colours --wrap --echo-keys  accepted for virt-v2v's sake, no effect here
  --log-dir DIR       keep each step's JSON log in DIR
  -v, -x              verbose (debug logs on stderr)
  -q                  quiet: no step lines, no progress bars

Steps as subcommands (see v2v input --help, v2v copy --help):
  v2v input | convert | output setup | copy | output finalize | cleanup
`;
