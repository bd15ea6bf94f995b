// `v2v ... --print-source` in text mode: metadata.in printed as virt-v2v
// 2.2 prints its source (v2v/v2v.ml: a header, a blank line, then
// lib/types.ml's string_of_source and a newline), so that scripts which
// diff it keep working. Disks are their index and bus, no path (as in 2.2).
//
// Where we read more of the source than virt-v2v 2.2 does, what 2.2 would
// not have listed is left out here (the output still has it): -i vmx lists
// IDE CD-ROMs only (parse_domain_from_vmx.ml, find_removables).
import type { MetadataIn, RemovableIn } from '../metadata/schema.js';
import type { DisplayIn } from '../metadata/source-info.js';

export const PRINT_SOURCE_HEADER = 'Source guest information (--print-source option):';

type Bus = MetadataIn['disks'][number]['bus'];

/** virt-v2v's string_of_controller; undefined for a bus it has no name for. */
function controller(bus: Bus | undefined, virtioScsi: boolean): string | undefined {
  switch (bus) {
    case 'ide':
    case 'sata':
    case 'nvme':
      return bus;
    case 'scsi':
      return virtioScsi ? 'virtio-scsi' : 'scsi';
    case 'virtio':
      return 'virtio-blk';
    default:
      return undefined;
  }
}

const inBrackets = (s: string | undefined) => (s === undefined ? '' : ` [${s}]`);

function display(d: DisplayIn | undefined): string {
  if (!d) return '';
  const l = d.listen;
  const listen =
    l === undefined
      ? ''
      : l.type === 'address'
        ? ` listening on address ${l.value ?? ''}`
        : l.type === 'network'
          ? ` listening on network ${l.value ?? ''}`
          : l.type === 'socket'
            ? l.value === undefined
              ? ' listening on automatically created Unix domain socket'
              : ` listening on Unix domain socket ${l.value}`
            : ' listening on private fd';
  return `${d.type}${d.keymap !== undefined ? ` ${d.keymap}` : ''}${d.password ? ' with password' : ''}${listen}`;
}

/** The removables virt-v2v 2.2's reader of this input would have listed. */
function listed(m: MetadataIn): RemovableIn[] {
  if (m.input === 'vmx') return m.removables.filter((r) => r.kind === 'cdrom' && r.bus === 'ide');
  return m.removables;
}

function removable(r: RemovableIn, virtioScsi: boolean): string {
  const kind = r.kind === 'cdrom' ? 'CD-ROM' : 'Floppy';
  return `\t${kind}${inBrackets(controller(r.bus, virtioScsi))}${r.slot !== undefined ? ` in slot ${r.slot}` : ''}`;
}

/** OCaml's `compare` on strings: byte order. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** virt-v2v 2.2's string_of_source. */
export function stringOfSource(m: MetadataIn): string {
  const vs = m.virtioScsi === true;
  const t = m.cpuTopology;
  return [
    `    source name: ${m.name}`,
    `hypervisor type: ${m.hypervisor ?? ''}`,
    `       VM genid: ${m.genid ?? ''}`,
    `         memory: ${m.memory} (bytes)`,
    `       nr vCPUs: ${m.vcpus}`,
    `     CPU vendor: ${m.cpuVendor ?? ''}`,
    `      CPU model: ${m.cpuModel ?? ''}`,
    `   CPU topology: ${t ? `sockets: ${t.sockets} cores/socket: ${t.cores} threads/core: ${t.threads}` : ''}`,
    `   CPU features: ${[...(m.features ?? [])].sort(byteOrder).join(',')}`,
    `       firmware: ${m.firmware}`,
    `        display: ${display(m.display)}`,
    `          sound: ${m.sound ?? ''}`,
    'disks:',
    m.disks.map((d) => `\t${d.index}${inBrackets(controller(d.bus, vs))}`).join('\n'),
    'removable media:',
    listed(m).map((r) => removable(r, vs)).join('\n'),
    'NICs:',
    m.nics
      .map((n) => `\t${n.vnetType === 'network' ? 'Network' : 'Bridge'} "${n.vnet}"${n.mac ? ` mac: ${n.mac}` : ''}${inBrackets(n.model)}`)
      .join('\n'),
    '',
  ].join('\n');
}

/** What `--print-source` writes on stdout: the header, a blank line, the source, a blank line. */
export function printSource(m: MetadataIn): string {
  return `${PRINT_SOURCE_HEADER}\n\n${stringOfSource(m)}\n`;
}
