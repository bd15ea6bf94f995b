// The OVF descriptor of an OVA: what virt-v2v 2.x's input/OVF.ml reads from
// it (name, memory, vCPUs, firmware, disks, removables, NICs), with
// fast-xml-parser instead of libxml2 and XPath. The descriptor comes from
// whoever made the OVA, so it is treated as hostile: size-limited, no
// DOCTYPE or entity declarations (billion laughs, external entities), no
// entity expansion beyond the five predefined ones and character references.
//
// Namespace prefixes are stripped: exporters bind ovf:, rasd:, vssd:, vmw:
// (or none, or other prefixes) to the same DMTF/VMware namespaces, and no
// two element names we read collide once prefixes are gone. The checked
// reading of the XML itself is in ovf-xml.ts.
import type { CpuTopologyIn } from '../../../metadata/source-info.js';
import type { SourceBus, SourceNic, SourceRemovable } from '../source.js';
import { ovaError } from './fail.js';
import { attr, bytes, child, children, parseXml, show, text, whole, type XNode } from './ovf-xml.js';
import { NOT_UTF8, isCleanText, showText } from '../../../util/text.js';

export { MAX_OVF_SIZE, decodeOvf, parseAllocationUnits } from './ovf-xml.js';

export interface OvfDisk {
  /** References/File ovf:href, relative to the OVF's directory (unchecked). */
  href: string;
  /** ovf:compression="gzip" on the File. */
  compressed: boolean;
  /** DiskSection/Disk ovf:capacity in bytes, when it is a number. */
  capacity?: number;
  /** From the Disk's ovf:format URL, else the href's extension. */
  format?: string;
  bus: SourceBus;
}

export interface OvfGuest {
  /** VirtualSystem Name, else its ovf:id; absent if neither. */
  name?: string;
  memory: number;
  vcpus: number;
  /** From the CPU item's vmw:CoresPerSocket (one thread per core), as virt-v2v reads it. */
  cpuTopology?: CpuTopologyIn;
  firmware: 'bios' | 'uefi' | 'unknown';
  disks: OvfDisk[];
  removables: SourceRemovable[];
  nics: SourceNic[];
  osHint?: string;
}

const RT = { cpu: 3, memory: 4, ide: 5, scsi: 6, nic: 10, floppy: 14, cdrom: 15, dvd: 16, disk: 17, other: 20 } as const;
// Without a memory item virt-v2v computes 1024 * 1024 MiB (1 TiB), evidently
// meaning 1 GiB; we use 1 GiB.
const DEFAULT_MEMORY = 1024 ** 3;

interface Controller {
  bus: SourceBus;
  /** Sort key: buses in order of first appearance, then the controller's bus number (rasd:Address). */
  rank: [number, number];
}

/** Items (OVF 1) and StorageItems/EthernetPortItems (OVF 2) of the hardware section. */
function hardwareItems(vhs: XNode | undefined): XNode[] {
  return [...children(vhs, 'Item'), ...children(vhs, 'StorageItem'), ...children(vhs, 'EthernetPortItem')];
}

function busOf(rt: number | undefined, subType: string | undefined): SourceBus {
  if (rt === RT.ide) return 'ide';
  if (rt === RT.scsi) return 'scsi';
  if (rt === RT.other) return /nvme/i.test(subType ?? '') ? 'nvme' : 'sata';
  return 'unknown';
}

/** Controllers by InstanceID: IDE (5), SCSI (6), SATA/NVMe (20). */
function controllers(items: XNode[], label: string): Map<string, Controller> {
  const map = new Map<string, Controller>();
  const buses: SourceBus[] = [];
  for (const [i, it] of items.entries()) {
    const rt = whole(text(it, 'ResourceType'), label, 'ResourceType');
    const id = text(it, 'InstanceID');
    if (id === undefined || (rt !== RT.ide && rt !== RT.scsi && rt !== RT.other)) continue;
    const bus = busOf(rt, text(it, 'ResourceSubType'));
    if (!buses.includes(bus)) buses.push(bus);
    // ovftool lists "IDE 1" before "IDE 0": the Address, not the document, orders them.
    const address = text(it, 'Address') ?? '';
    const number = /^\d{1,6}$/.test(address) ? Number(address) : 1_000_000 + i;
    map.set(id, { bus, rank: [buses.indexOf(bus), number] });
  }
  return map;
}

function itemsOf(items: XNode[], label: string, ...types: number[]): XNode[] {
  return items.filter((it) => types.includes(whole(text(it, 'ResourceType'), label, 'ResourceType') ?? -1));
}

function formatOf(formatUrl: string | undefined, href: string): string | undefined {
  const url = formatUrl ?? '';
  if (/vmdk/i.test(url)) return 'vmdk';
  if (/qcow/i.test(url)) return 'qcow2';
  if (/vhdx/i.test(url)) return 'vhdx';
  if (/vhd/i.test(url)) return 'vpc';
  const ext = /\.([a-z0-9]+)$/i.exec(href.replace(/\.gz$/i, ''))?.[1]?.toLowerCase();
  return ({ vmdk: 'vmdk', qcow2: 'qcow2', raw: 'raw', vhd: 'vpc', vhdx: 'vhdx', vdi: 'vdi' } as Record<string, string>)[ext ?? ''];
}

/** One disk Item: HostResource "ovf:/disk/ID" -> DiskSection Disk -> References File. */
function diskOf(item: XNode, env: XNode, bus: SourceBus, label: string): OvfDisk {
  const itemName = text(item, 'InstanceID') ?? text(item, 'ElementName') ?? '?';
  const host = text(item, 'HostResource');
  const m = host === undefined ? null : /^(?:ovf:)?\/(disk|file)\/(.+)$/.exec(host);
  if (!m) throw ovaError([label, `disk item ${itemName}: ${host === undefined ? 'no HostResource' : `unsupported HostResource ${show(host)}`}`]);
  let fileId = m[2]!;
  let disk: XNode | undefined;
  if (m[1] === 'disk') {
    disk = children(child(env, 'DiskSection'), 'Disk').find((d) => attr(d, 'diskId') === m[2]);
    if (!disk) throw ovaError([label, `disk item ${itemName}: disk ${show(m[2]!)} is not in the DiskSection`]);
    const ref = attr(disk, 'fileRef');
    if (!ref) throw ovaError([label, `disk ${show(m[2]!)} has no file (an empty disk to create): not supported`]);
    fileId = ref;
  }
  const file = children(child(env, 'References'), 'File').find((f) => attr(f, 'id') === fileId);
  const href = attr(file, 'href');
  if (!file || !href) throw ovaError([label, `file ${show(fileId)} is not in the References section or has no href`]);
  const compression = attr(file, 'compression');
  if (compression !== undefined && compression !== 'identity' && compression !== 'gzip') {
    throw ovaError([label, `${href}: unsupported compression ${show(compression)}`]);
  }
  const raw = attr(disk, 'capacity');
  const capacity = raw !== undefined && /^\d+$/.test(raw) ? bytes(whole(raw, label, 'disk capacity')!, attr(disk, 'capacityAllocationUnits'), 1, label, `disk ${href} capacity`) : undefined;
  const format = formatOf(attr(disk, 'format'), href);
  return { href, compressed: compression === 'gzip', bus, ...(capacity !== undefined ? { capacity } : {}), ...(format ? { format } : {}) };
}

/**
 * Disks in guest order: by controller, then AddressOnParent (stable, so
 * disks without either keep document order). virt-v2v keeps document order
 * ("XXX We assume the OVF lists these in order"); exports that list disks
 * in order get the same result.
 */
function parseDisks(items: XNode[], ctl: Map<string, Controller>, env: XNode, label: string): OvfDisk[] {
  const keyed = itemsOf(items, label, RT.disk).map((it) => {
    const c = ctl.get(text(it, 'Parent') ?? '');
    const address = whole(text(it, 'AddressOnParent'), label, 'AddressOnParent');
    return { disk: diskOf(it, env, c?.bus ?? 'unknown', label), key: [...(c?.rank ?? [Infinity, Infinity]), address ?? Infinity] };
  });
  const cmp = (a: number, b: number) => (a === b ? 0 : a < b ? -1 : 1);
  keyed.sort((a, b) => cmp(a.key[0]!, b.key[0]!) || cmp(a.key[1]!, b.key[1]!) || cmp(a.key[2]!, b.key[2]!));
  return keyed.map((k) => k.disk);
}

function parseRemovables(items: XNode[], ctl: Map<string, Controller>, label: string): SourceRemovable[] {
  return itemsOf(items, label, RT.floppy, RT.cdrom, RT.dvd).map((it) => {
    const slot = whole(text(it, 'AddressOnParent'), label, 'AddressOnParent');
    return {
      kind: whole(text(it, 'ResourceType'), label, 'ResourceType') === RT.floppy ? 'floppy' : 'cdrom',
      bus: ctl.get(text(it, 'Parent') ?? '')?.bus ?? 'unknown',
      ...(slot !== undefined ? { slot } : {}),
    };
  });
}

/** aa:bb:cc:dd:ee:ff (also from '-' separators), else undefined. */
function mac(s: string | undefined): string | undefined {
  return s && /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(s) ? s.toLowerCase().replace(/-/g, ':') : undefined;
}

// As virt-v2v: a NIC's Connection is taken as a bridge name; without one it is network "eth<N>".
function parseNics(items: XNode[], label: string): SourceNic[] {
  return itemsOf(items, label, RT.nic).map((it, i) => {
    const connection = text(it, 'Connection');
    const model = text(it, 'ResourceSubType')?.toLowerCase();
    const address = mac(text(it, 'Address'));
    return {
      vnet: connection ?? `eth${i}`,
      vnetType: connection !== undefined ? 'bridge' : 'network',
      ...(address ? { mac: address } : {}),
      ...(model ? { model } : {}),
    };
  });
}

function parseFirmware(vhs: XNode | undefined, label: string): OvfGuest['firmware'] {
  const value = attr(children(vhs, 'Config').find((c) => attr(c, 'key') === 'firmware'), 'value');
  if (value === undefined) return 'unknown'; // as virt-v2v: inspection decides
  if (value === 'efi') return 'uefi';
  if (value === 'bios') return 'bios';
  throw ovaError([label, `unknown firmware ${show(value)} (expected "bios" or "efi")`]);
}

function theVirtualSystem(doc: XNode, label: string): { env: XNode; vs: XNode } {
  const envs = children(doc, 'Envelope');
  if (envs.length !== 1) throw ovaError([label, 'not an OVF descriptor (no Envelope element)']);
  const env = envs[0]!;
  if (child(env, 'VirtualSystemCollection')) throw ovaError([label, 'holds a VirtualSystemCollection: only one virtual system is supported']);
  const systems = children(env, 'VirtualSystem');
  if (systems.length !== 1) throw ovaError([label, `holds ${systems.length} virtual systems: exactly one is needed`]);
  return { env, vs: systems[0]! };
}

/** Parse an OVF descriptor; `label` ("guest.ova: guest.ovf") starts every error. */
export function parseOvf(xml: string, label: string): OvfGuest {
  const { env, vs } = theVirtualSystem(parseXml(xml, label), label);
  const vhs = child(vs, 'VirtualHardwareSection');
  const items = hardwareItems(vhs);
  const ctl = controllers(items, label);
  const [memItem] = itemsOf(items, label, RT.memory);
  const memQuantity = whole(text(memItem, 'VirtualQuantity'), label, 'memory');
  const memory = memQuantity ? bytes(memQuantity, text(memItem, 'AllocationUnits'), 2 ** 20, label, 'memory') : DEFAULT_MEMORY;
  const [cpuItem] = itemsOf(items, label, RT.cpu);
  const vcpus = whole(text(cpuItem, 'VirtualQuantity'), label, 'vCPU count') || 1;
  // virt-v2v ignores a CoresPerSocket that is 0 or more than the vCPUs (with a warning).
  const coresPerSocket = Number(text(cpuItem, 'CoresPerSocket') ?? '0');
  const sockets = Number.isSafeInteger(coresPerSocket) && coresPerSocket > 0 ? Math.floor(vcpus / coresPerSocket) : 0;
  const os = child(vs, 'OperatingSystemSection');
  const osHint = text(os, 'Description') ?? attr(os, 'osType');
  const name = text(vs, 'Name') || attr(vs, 'id');
  // The descriptor is decoded leniently: a name with U+FFFD in it stood for other bytes.
  if (name && !isCleanText(name)) throw ovaError([label, `VirtualSystem name ${showText(name)}: ${NOT_UTF8}`]);
  return {
    ...(name ? { name } : {}),
    memory,
    vcpus,
    ...(sockets > 0 ? { cpuTopology: { sockets, cores: coresPerSocket, threads: 1 } } : {}),
    firmware: parseFirmware(vhs, label),
    disks: parseDisks(items, ctl, env, label),
    removables: parseRemovables(items, ctl, label),
    nics: parseNics(items, label),
    ...(osHint ? { osHint } : {}),
  };
}
