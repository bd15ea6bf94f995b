// -oo compressed (-o local, -o qemu, -o libvirt): the target qcow2 written through
// qemu's compress filter, every cluster compressed, as virt-v2v 2.2 does
// (output.ml: qemu-nbd --image-opts driver=compress,file.driver=qcow2,...).
// The filter takes only whole clusters, each written once: qemu-nbd says so
// as its minimum block size, and the copier aligns every request to it.
import path from 'node:path';

export interface CompressedChoice {
  type: string;
  format: string;
  allocation: string;
  compressed?: boolean | undefined;
}

/** Why these output options cannot make a compressed disk, or undefined. */
export function compressedProblem(o: CompressedChoice): string | undefined {
  if (!o.compressed) return undefined;
  if (o.type !== 'local' && o.type !== 'qemu' && o.type !== 'libvirt') return `-oo compressed: not an option of -o ${o.type}`;
  if (o.format !== 'qcow2') {
    return '‘-oo compressed’ is only allowed when the output format is a local qcow2-format file, i.e. ‘-of qcow2’';
  }
  // A compressed write cannot go to a cluster already allocated, as full
  // preallocation allocates them all: qemu would fail every write.
  if (o.allocation === 'preallocated') return '‘-oo compressed’ cannot be used with ‘-oa preallocated’';
  return undefined;
}

/** qemu's image-opts for FILE (a qcow2) behind the compress filter; "," doubled as qemu quotes it. */
export function compressedImageOpts(file: string): string {
  const abs = path.resolve(file);
  return ['driver=compress', 'file.driver=qcow2', 'file.file.driver=file', `file.file.filename=${abs.replaceAll(',', ',,')}`].join(',');
}

/** qcow2's default cluster size, which `qemu-img create` gives our disks. */
export const QCOW2_CLUSTER = 64 * 1024;

/**
 * Why a compressed output cannot hold disks of these sizes, or undefined:
 * qemu's compress filter refuses an image whose size is not a multiple of
 * its cluster (virt-v2v fails there too, in qemu-nbd's words).
 */
export function compressedSizeProblem(o: { compressed?: boolean | undefined }, disks: { index: number; size: number }[]): string | undefined {
  if (!o.compressed) return undefined;
  const odd = disks.find((d) => d.size % QCOW2_CLUSTER !== 0);
  if (odd === undefined) return undefined;
  return `‘-oo compressed’: disk ${odd.index} is ${odd.size} bytes, not a multiple of qcow2's 64 KiB cluster, which qemu's compress filter needs: convert without -oo compressed`;
}
