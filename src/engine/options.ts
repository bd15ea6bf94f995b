// A whole job's options: one zod schema with the defaults and the help text
// beside each key (G10). The CLI (`v2v -i ... -o ...`, via optionsFromArgs),
// the step subcommands, `v2v batch` and services embedding the engine all
// build this object and get the same checks and the same one-line errors.
// What needs the file system (does -os exist, is -ip readable) is checked
// by the pipeline's pre-flight, before anything starts.
import * as z from 'zod';
import { CopyOptions } from '../copy/options.js';
import { ConvertOptions } from '../steps/convert/options.js';
import { ConfigError } from '../errors.js';
import { LogLevel } from '../log/config.js';
import { nameLengthProblem } from '../steps/output/names.js';
import { compressedProblem } from '../steps/output/compressed.js';
import { diskPatternProblem } from '../steps/output/disk-names.js';
import { OUTPUT_TYPES } from '../steps/output/names.js';
import { connectionProblem, guestProblem } from '../steps/input/libvirt/uri.js';
import { NOT_UTF8, isCleanText, showText } from '../util/text.js';
import { formatZodError } from '../util/zod.js';

/**
 * A name or path: not empty, and clean text (src/util/text.ts): a lone
 * surrogate or a U+FFFD from a lossy decode would name another file. The
 * refusal names the option (`what`).
 */
const text = (what: string) =>
  z.string().superRefine((s, ctx) => {
    if (!isCleanText(s)) ctx.addIssue({ code: 'custom', message: `${what} ${showText(s)}: ${NOT_UTF8}` });
  });
const Path = (what: string) => text(what).min(1);
/** Clean text that `problem` (one line, naming the option) does not refuse. */
const checked = (what: string, problem: (s: string) => string | undefined) =>
  text(what).superRefine((s, ctx) => {
    const p = isCleanText(s) ? problem(s) : undefined;
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
  });

export const NetworkMapOptions = z
  .strictObject({
    bridges: z.array(text('-b')).default([]).describe('-b [IN:]OUT: map the source bridge IN (default: all) to OUT'),
    networks: z.array(text('-n')).default([]).describe('-n [IN:]OUT: map the source network IN (default: all) to OUT'),
    macs: z.array(text('--mac')).default([]).describe('--mac MAC:network|bridge:OUT: map the NIC with this MAC'),
  })
  .describe('virt-v2v\'s network mapping (-n, -b, --mac)');

export const InputOptions = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('disk'),
      files: z
        .array(Path('-i disk'))
        .refine((f) => f.length > 0, '-i disk: expecting a disk image (filename) on the command line')
        .describe('the disk images, in the guest\'s order (sda, sdb, ...)'),
      format: Path('-if').optional().describe('-if: the format of every disk (default: probed)'),
    }),
    z.strictObject({ type: z.literal('libvirtxml'), file: Path('-i libvirtxml').describe('a libvirt domain XML') }),
    z.strictObject({
      type: z.literal('libvirt'),
      connection: checked('-ic', connectionProblem)
        .optional()
        .describe('-ic URI: the libvirt connection (qemu:///system, test:///FILE.xml, qemu+ssh://HOST/system, xen+ssh://HOST; default: libvirt\'s)'),
      guest: checked('-i libvirt', guestProblem).describe('the guest\'s name (or UUID), which must be shut down'),
    }),
    z.strictObject({
      type: z.literal('vmx'),
      file: Path('-i vmx').describe('a VMware .vmx, or ssh://[user@]host[:port]/path.vmx with transport "ssh"'),
      transport: z.literal('ssh').optional().describe('-it ssh: read the .vmx and its flat disks over SSH'),
      passwordFile: Path('-ip').optional().describe('-ip FILE: the SSH password, read from FILE'),
    }),
    z.strictObject({ type: z.literal('ova'), file: Path('-i ova').describe('an OVA (tar, or gzip tar) or its unpacked directory') }),
  ])
  .describe('the source (-i)');

export const OutputType = z.enum(OUTPUT_TYPES);

export const OutputOptionsSchema = z
  .strictObject({
    type: OutputType.describe('-o: libvirt (volumes of a pool + a defined domain), local (disks + libvirt XML), qemu (disks + a qemu script), json (disks + NAME.json), kubevirt (disks + a VirtualMachine YAML), null (discard)'),
    storage: Path('-os').optional().describe('-os DIR: where the disks and metadata go (local, qemu, json, kubevirt); -o libvirt: the storage pool (default: default)'),
    connection: checked('-oc', (uri) => connectionProblem(uri, '-oc'))
      .optional()
      .describe('-oc URI (-o libvirt): the libvirt connection on this machine (qemu:///system, qemu:///session; default: libvirt\'s)'),
    format: z.enum(['raw', 'qcow2']).default('raw').describe('-of: the target disks\' format (default: raw)'),
    allocation: z.enum(['sparse', 'preallocated']).default('sparse').describe('-oa (default: sparse)'),
    compressed: z.boolean().optional().describe('-oo compressed: a compressed qcow2 (-o local, -o qemu with -of qcow2)'),
    diskPattern: z
      .string()
      .optional()
      .describe('-oo json-disks-pattern (-o json): the disks\' file names, from %{GuestName}, %{DiskNo}, %{DiskDeviceName}'),
  })
  .superRefine((o, ctx) => {
    if (o.connection !== undefined && o.type !== 'libvirt') ctx.addIssue({ code: 'custom', message: `-oc: only for -o libvirt, not -o ${o.type}`, path: ['connection'] });
    const why = compressedProblem(o);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why, path: ['compressed'] });
    if (o.diskPattern !== undefined) {
      const bad = o.type === 'json' ? diskPatternProblem(o.diskPattern) : `-o ${o.type}: unknown output option ‘-oo json-disks-pattern’`;
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: bad, path: ['diskPattern'] });
    }
  })
  .describe('the destination (-o)');

export const JobOptions = z
  .strictObject({
    input: InputOptions,
    network: NetworkMapOptions.default({ bridges: [], networks: [], macs: [] }),
    output: OutputOptionsSchema.default({ type: 'null', format: 'raw', allocation: 'sparse' }),
    name: Path('-on').optional().describe('-on: the converted guest\'s name (default: the source\'s)'),
    noConvert: z.boolean().default(false).describe('--no-convert: copy a guest already at home on KVM as it is'),
    inPlace: z
      .boolean()
      .default(false)
      .describe('--in-place: convert the source\'s own disks (-i disk|libvirtxml|libvirt), committed into them only once the conversion succeeded; no output'),
    inPlaceOutput: Path('-O').optional().describe('-O FILE (--in-place): the converted guest\'s libvirt XML, and FILE.metadata.out beside it'),
    printSourceOnly: z.boolean().default(false).describe('--print-source: read the source, describe it, stop'),
    allowRemoteBacking: z
      .boolean()
      .default(false)
      .describe(
        '--allow-remote-backing (-i disk): let a disk\'s backing chain (or data file, or vmdk extents) name a network location (nbd:, http(s):, ssh:, any URI, a json: spec); refused by default',
      ),
    logDir: Path('--log-dir').optional().describe('--log-dir: keep each step\'s JSON log here (default: a private dir kept on failure)'),
    logLevel: LogLevel.default('debug').describe('level of the step logs (default: debug)'),
    workParent: Path('workParent').optional().describe('parent of the private work dir (default: $TMPDIR)'),
    copy: CopyOptions.optional().describe('the copy\'s tuning, as v2v copy\'s options'),
    convert: ConvertOptions.optional().describe('the conversion\'s options: --root, --key (LUKS)'),
  })
  .superRefine((o, ctx) => {
    const bad = (message: string, path: (string | number)[]) => ctx.addIssue({ code: 'custom', message, path });
    if (o.input.type === 'vmx') {
      if (o.input.passwordFile !== undefined && o.input.transport !== 'ssh') bad('-ip: only with -it ssh', ['input', 'passwordFile']);
      if (o.input.transport === undefined && /^ssh:\/\//i.test(o.input.file)) bad('-i vmx: an ssh:// URI needs -it ssh', ['input', 'transport']);
    }
    if (o.inPlace) {
      if (!['disk', 'libvirtxml', 'libvirt'].includes(o.input.type)) bad(`--in-place: -i ${o.input.type}: only -i disk, -i libvirtxml and -i libvirt disks can be converted in place`, ['inPlace']);
      if (o.noConvert) bad('--in-place and --no-convert: nothing would be done', ['noConvert']);
      if (o.output.type !== 'null' || o.output.storage !== undefined) bad('--in-place: no output (-o): the disks are converted where they are', ['output']);
    } else if (o.inPlaceOutput !== undefined) bad('-O: only with --in-place', ['inPlaceOutput']);
    if (o.allowRemoteBacking && o.input.type !== 'disk') bad(`--allow-remote-backing: only for -i disk, not -i ${o.input.type}`, ['allowRemoteBacking']);
    if (!o.printSourceOnly && o.output.type !== 'null' && o.output.type !== 'libvirt' && o.output.storage === undefined) {
      bad(`-o ${o.output.type}: output directory was not specified, use '-os /dir'`, ['output', 'storage']);
    }
    // Every file the output writes must fit NAME_MAX: refused now, not after the conversion.
    const tooLong = o.printSourceOnly || o.name === undefined ? undefined : nameLengthProblem(o.output.type, o.name);
    if (tooLong !== undefined) bad(tooLong, ['name']);
  });
export type JobOptionsInput = z.input<typeof JobOptions>;
export type JobOptions = z.output<typeof JobOptions>;

/**
 * Parse a job's options: the typed result, or a ConfigError with one line.
 * A custom rule's message stands alone (it names the option as virt-v2v
 * does); zod's own say where: "options: output.format: ...".
 */
export function parseJobOptions(raw: unknown): JobOptions {
  const r = JobOptions.safeParse(raw);
  if (r.success) return r.data;
  const custom = r.error.issues.find((i) => i.code === 'custom');
  throw new ConfigError(custom ? custom.message : `options: ${formatZodError(r.error)}`, { cause: r.error });
}

/** How a job's source is named in messages: "-i disk a.img b.img", "-i vmx g.vmx", "-ic URI -i libvirt GUEST". */
export function describeInput(i: JobOptions['input']): string {
  if (i.type === 'disk') return `-i disk ${i.files.join(' ')}`;
  // virt-v2v's own order: "-ic URI -i libvirt GUEST".
  if (i.type === 'libvirt') return `${i.connection !== undefined ? `-ic ${i.connection} ` : ''}-i libvirt ${i.guest}`;
  return `-i ${i.type} ${i.file}`;
}
