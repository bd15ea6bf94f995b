// What a .vmx says about the guest's virtual hardware besides its disks and
// NICs, as virt-v2v's parse_domain_from_vmx.ml reads it: the hypervisor is
// vmware; the generation ID from vm.genid and vm.genidX; the CPU topology
// from cpuid.coresPerSocket; the sound card from sound.virtualDev. Values
// that mean nothing are left out with a warning, never refused.
import type { SoundModel, SourceInfo } from '../../../metadata/source-info.js';
import type { VmxValues } from './values.js';

/** A signed 64-bit decimal as its two's-complement 16 hex digits, or undefined. */
function hex64(v: VmxValues, key: string): string | undefined {
  const s = v.get(key)?.value.trim();
  if (s === undefined || !/^-?\d{1,20}$/.test(s)) return undefined;
  const n = BigInt(s);
  if (n < -(2n ** 63n) || n >= 2n ** 64n) return undefined;
  return BigInt.asUintN(64, n).toString(16).padStart(16, '0');
}

/**
 * The VM generation ID: vm.genid (low) and vm.genidX (high) as a UUID, in
 * virt-v2v's byte order (docs/vm-generation-id-across-hypervisors.txt).
 */
export function genidOf(v: VmxValues): string | undefined {
  const lo = hex64(v, 'vm.genid');
  const hi = hex64(v, 'vm.genidX');
  if (lo === undefined || hi === undefined) return undefined;
  const h = lo + hi;
  const sub = (at: number, n: number) => h.slice(at, at + n);
  return [
    sub(8, 8),
    sub(4, 4),
    sub(0, 4),
    sub(30, 2) + sub(28, 2),
    sub(26, 2) + sub(24, 2) + sub(22, 2) + sub(20, 2) + sub(18, 2) + sub(16, 2),
  ].join('-');
}

const SOUND: Record<string, SoundModel> = { sb16: 'sb16', es1371: 'es1370', hdaudio: 'ich6' };

/** SourceInfo of a .vmx with `vcpus` vCPUs; what is ignored goes to `warnings`. */
export function hardwareOf(v: VmxValues, vcpus: number, warnings: string[]): SourceInfo {
  const info: SourceInfo = { hypervisor: 'vmware' };
  const genid = genidOf(v);
  if (genid !== undefined) info.genid = genid;
  const cps = v.get('cpuid.coresPerSocket')?.value.trim();
  if (cps !== undefined) {
    const cores = /^\d{1,6}$/.test(cps) ? Number(cps) : 0;
    const sockets = cores > 0 ? Math.floor(vcpus / cores) : 0;
    if (sockets > 0) info.cpuTopology = { sockets, cores, threads: 1 };
    else warnings.push(`cpuid.coresPerSocket ${JSON.stringify(cps)} does not fit ${vcpus} vCPU(s): the CPU topology is ignored`);
  }
  const sound = v.text('sound.virtualDev');
  if (sound !== undefined) {
    const model = SOUND[sound.toLowerCase()];
    if (model !== undefined) info.sound = model;
    else warnings.push(`unknown sound device ${JSON.stringify(sound)} ignored`);
  }
  return info;
}
