// The inputs that read a guest's metadata file (`-i libvirtxml`, `-i vmx`,
// `-i ova`): parse it (src/steps/input/<kind>/), apply the network mapping
// options, and say which disks the input step serves. The disks then go
// through the same overlays as `-i disk`; a disk inside an uncompressed OVA
// is read in place (qemu's raw offset/size), a gzip one decompressed into
// the work dir, a remote one (NBD, HTTP(S)) fronted by nbdkit's nbd or curl
// plugin.
import type { Logger } from 'pino';
import { ConfigError, InputError } from '../../errors.js';
import type { NicIn } from '../../metadata/schema.js';
import type { GuestFields } from './disk.js';
import { applyNetworkMap, parseNetworkMap, readLibvirtXml, type NetworkMapOptions } from './libvirtxml/parse.js';
import type { SourceDisk, SourceGuest } from './source.js';
import { readOva } from './ova/ova.js';
import { readVmx } from './vmx/parse.js';

export type SourceInputType = 'libvirtxml' | 'vmx' | 'ova';

export interface SourceInput {
  type: SourceInputType;
  /** The guest's metadata file: domain XML or .vmx. */
  file: string;
  network?: NetworkMapOptions;
}

/** A local path, or a URI our input actor can front (nbd, nbd+unix, http, https). */
function diskLocation(file: string, d: SourceDisk, i: number): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(d.location)?.[1]?.toLowerCase();
  if (scheme !== undefined && !['nbd', 'nbd+unix', 'http', 'https'].includes(scheme)) {
    const err = new InputError(`input: ${file}: disk ${i + 1} (${d.location}): ${scheme}:// disks are not supported`);
    err.step = 'input';
    throw err;
  }
  return d.location;
}

export interface SourceRead {
  guest: SourceGuest;
  fields: GuestFields;
  /** One per disk, in the guest's order. */
  disks: { file: string; format?: string; bus: SourceDisk['bus']; tarRange?: SourceDisk['tarRange']; compressed?: 'gzip'; capacity?: number }[];
  warnings: string[];
}

export async function readSource(input: SourceInput, log: Logger, signal?: AbortSignal): Promise<SourceRead> {
  const warnings: string[] = [];
  const map = parseNetworkMap(input.network ?? { bridges: [], networks: [], macs: [] });
  const guest =
    input.type === 'libvirtxml'
      ? await readLibvirtXml(input.file)
      : input.type === 'ova'
        ? await readOva(input.file, signal ? { signal } : {})
        : await readVmx(input.file, {
          warn: (m) => {
            warnings.push(m);
            log.warn({ warning: m }, 'vmx');
          },
        });
  if (guest.disks.length === 0) throw new ConfigError(`input: ${input.file}: the guest has no disks`);
  const nics: NicIn[] = applyNetworkMap(guest.nics, map).map((n) => ({
    vnet: n.vnet,
    vnetType: n.vnetType,
    ...(n.mac ? { mac: n.mac } : {}),
    ...(n.model ? { model: n.model } : {}),
  }));
  const disks = guest.disks.map((d, i) => ({
    file: diskLocation(input.file, d, i),
    ...(d.format ? { format: d.format } : {}),
    bus: d.bus,
    ...(d.tarRange ? { tarRange: d.tarRange } : {}),
    ...(d.compressed ? { compressed: d.compressed } : {}),
    ...(d.capacity !== undefined ? { capacity: d.capacity } : {}),
  }));
  log.info({ guest, disks }, `input: ${input.file}: ${guest.disks.length} disk(s), ${guest.removables.length} removable(s), ${nics.length} NIC(s)`);
  return {
    guest,
    fields: { name: guest.name, input: input.type, memory: guest.memory, vcpus: guest.vcpus, firmware: guest.firmware, nics },
    disks,
    warnings,
  };
}
