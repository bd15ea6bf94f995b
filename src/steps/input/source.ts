// What an input's metadata parser (libvirt XML, VMX, OVF) says about the
// source guest, before any disk is opened: the parsers' common result. The
// input step then checks every disk, puts an overlay over it and writes
// metadata.in (src/metadata/schema.ts) from this plus what qemu-img reads.
import type { SourceInfo } from '../../metadata/source-info.js';

export type SourceBus = 'ide' | 'sata' | 'scsi' | 'virtio' | 'nvme' | 'unknown';

export interface SourceDisk {
  /**
   * Where the data is: an absolute local path (already resolved against the
   * metadata file's directory and checked not to escape it where the format
   * demands that), or a URI (nbd://, nbd+unix://, http(s)://, ssh://).
   */
  location: string;
  /** raw, qcow2, vmdk, ... when the metadata says; else probed later. */
  format?: string;
  bus: SourceBus;
  /** Declared size in bytes, when the metadata declares one (a VMDK descriptor's): the disk must have it. */
  capacity?: number;
  /**
   * A size the metadata states without vouching for it (an OVF's capacity,
   * which virt-v2v never checks): a disk of another size gets a warning
   * naming `where`, and is copied at its own size.
   */
  statedCapacity?: { bytes: number; where: string };
  /** For disks inside an OVA tar: the member's byte range in the tar. */
  tarRange?: { offset: number; size: number };
  /** gzip-compressed member (OVA), to be decompressed before use. */
  compressed?: 'gzip';
  /**
   * A `json:` spec naming every file qemu may open for this disk (an OVA
   * member with a checked backing chain, ova/chain.ts): opened as it is.
   */
  image?: string;
}

export interface SourceRemovable {
  kind: 'cdrom' | 'floppy';
  location?: string;
  bus: SourceBus;
  /** Its index on its controller, as virt-v2v counts it (libvirt's hdc is 2, VMware's ide1:0 is 2), when known. */
  slot?: number;
}

export interface SourceNic {
  /** Lower-case aa:bb:cc:dd:ee:ff. */
  mac?: string;
  /** virtio, e1000, e1000e, vmxnet3, rtl8139, ... as the source names it. */
  model?: string;
  /** The network or bridge the NIC is attached to in the source. */
  vnet: string;
  vnetType: 'network' | 'bridge';
}

/** SourceInfo: hypervisor, genid, CPU, features, display, sound, as far as the metadata says. */
export interface SourceGuest extends SourceInfo {
  name: string;
  /** Bytes. */
  memory: number;
  vcpus: number;
  firmware: 'bios' | 'uefi' | 'unknown';
  /** In the guest's disk order (sda, sdb, ...). */
  disks: SourceDisk[];
  removables: SourceRemovable[];
  nics: SourceNic[];
  /** The source's own OS label (VMX guestOS, OVF OperatingSystemSection), if any. */
  osHint?: string;
}
