// What a libvirt domain XML says about the guest's virtual hardware besides
// its disks and NICs, read as virt-v2v's parse_libvirt_xml.ml reads it:
// <domain type>, <genid>, <cpu> vendor, model and topology, the names of
// <features>' children, the first <graphics> and <sound>, and whether a
// virtio-scsi controller is there. Unknown values are left out, not
// refused: none of this decides whether the guest can be converted.
import type { DisplayIn, SoundModel, SourceInfo } from '../../../metadata/source-info.js';
import { SoundModel as SoundModels } from '../../../metadata/source-info.js';
import type { XmlElement } from './xml.js';

/** A whole number attribute, or undefined when absent or not one. */
function int(el: XmlElement | undefined, name: string): number | undefined {
  const v = el?.attr(name);
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** Non-empty text of a child element. */
function childText(el: XmlElement | undefined, tag: string): string | undefined {
  const t = el?.child(tag)?.text();
  return t === undefined || t === '' ? undefined : t;
}

function listen(g: XmlElement): DisplayIn['listen'] {
  const l = g.children('listen')[0];
  if (!l) {
    const a = g.attr('listen');
    return a === undefined ? undefined : { type: 'address', value: a };
  }
  const type = l.attr('type');
  const value = type === 'address' || type === 'network' || type === 'socket' ? l.attr(type) : undefined;
  if (type === 'socket') return { type, ...(value !== undefined ? { value } : {}) };
  if (type === 'none') return { type };
  if ((type === 'address' || type === 'network') && value !== undefined) return { type, value };
  return undefined;
}

/** The first <graphics>, when it is vnc or spice (virt-v2v ignores local displays and the rest). */
function display(devices: XmlElement | undefined): DisplayIn | undefined {
  const g = devices?.children('graphics')[0];
  const type = g?.attr('type');
  if (!g || (type !== 'vnc' && type !== 'spice')) return undefined;
  const keymap = g.attr('keymap');
  const l = listen(g);
  const port = g.attr('autoport') === 'no' ? int(g, 'port') : undefined;
  return {
    type,
    ...(keymap !== undefined ? { keymap } : {}),
    password: g.attr('passwd') !== undefined,
    ...(l ? { listen: l } : {}),
    ...(port !== undefined && port > 0 && port <= 65535 ? { port } : {}),
  };
}

function sound(devices: XmlElement | undefined): SoundModel | undefined {
  const model = devices?.children('sound')[0]?.attr('model');
  const parsed = SoundModels.safeParse(model);
  return parsed.success ? parsed.data : undefined;
}

/** SourceInfo of <domain>. */
export function hardwareOf(domain: XmlElement): SourceInfo {
  const cpu = domain.child('cpu');
  const topology = cpu?.child('topology');
  const [sockets, cores, threads] = ['sockets', 'cores', 'threads'].map((a) => int(topology, a));
  const devices = domain.child('devices');
  const hypervisor = domain.attr('type');
  const genid = childText(domain, 'genid');
  const cpuVendor = childText(cpu, 'vendor');
  const cpuModel = childText(cpu, 'model');
  const features = domain.child('features');
  const d = display(devices);
  const s = sound(devices);
  const virtioScsi = (devices?.children('controller') ?? []).some((c) => c.attr('model') === 'virtio-scsi');
  return {
    ...(hypervisor ? { hypervisor } : {}),
    ...(genid !== undefined ? { genid } : {}),
    ...(cpuVendor !== undefined ? { cpuVendor } : {}),
    ...(cpuModel !== undefined ? { cpuModel } : {}),
    ...(sockets && cores && threads ? { cpuTopology: { sockets, cores, threads } } : {}),
    ...(features ? { features: features.childTags() } : {}),
    ...(d ? { display: d } : {}),
    ...(s ? { sound: s } : {}),
    ...(virtioScsi ? { virtioScsi } : {}),
  };
}

/** libguestfs' drive_index: "a" is 0, "z" 25, "aa" 26; undefined if not only letters. */
function driveIndex(letters: string): number | undefined {
  if (!/^[a-z]{1,6}$/.test(letters)) return undefined;
  let n = 0;
  for (const c of letters) n = n * 26 + (c.charCodeAt(0) - 96);
  return n - 1;
}

/** A removable's slot from its <target dev> (virt-v2v: srN is N; hdX, sdX, vdX, xvdX, fdX by their letters). */
export function removableSlot(dev: string | undefined): number | undefined {
  if (dev === undefined) return undefined;
  if (dev.startsWith('sr')) return /^\d{1,6}$/.test(dev.slice(2)) ? Number(dev.slice(2)) : undefined;
  const prefix = ['hd', 'sd', 'vd', 'xvd', 'fd'].find((p) => dev.startsWith(p));
  return prefix === undefined ? undefined : driveIndex(dev.slice(prefix.length));
}
