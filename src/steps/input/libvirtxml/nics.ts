// The <interface> elements of a libvirt domain XML. type='network' and
// type='bridge' are read as virt-v2v does. virt-v2v drops every other
// type (direct, user, ethernet, hostdev, ...) with a warning; we keep the
// NIC as vnetType 'network' named after its type ("direct", "user"), so it
// is still created in the target and `-n direct:NET` (or the default -n)
// maps it like any network.
import type { SourceNic } from '../source.js';
import { checkNoControl } from './disks.js';
import { quote, type Fail, type XmlElement } from './xml.js';

export const MAC_RE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

function mac(nic: XmlElement, fail: Fail): string | undefined {
  const m = nic.child('mac')?.attr('address');
  if (m === undefined) return undefined;
  if (!MAC_RE.test(m)) return fail(`bad <mac address=...>: expected aa:bb:cc:dd:ee:ff, got ${quote(m)}`);
  const lower = m.toLowerCase();
  // VMware's libvirt driver writes all zeros for "no address" (virt-v2v drops it too).
  return lower === '00:00:00:00:00:00' ? undefined : lower;
}

function model(nic: XmlElement, fail: Fail): string | undefined {
  const t = nic.child('model')?.attr('type');
  if (t === undefined || t === '') return undefined;
  if (!/^[A-Za-z0-9_.+-]{1,64}$/.test(t)) return fail(`bad <model type=...>: ${quote(t)}`);
  return t;
}

/** The NICs of <devices>, in document order; errors name the <interface> by position (1-based). */
export function parseNics(devices: XmlElement | undefined, fail: Fail): SourceNic[] {
  return (devices?.children('interface') ?? []).map((nic, i) => {
    const failHere: Fail = (msg) => fail(`<interface> ${i + 1}: ${msg}`);
    const el = nic.withFail(failHere);
    const type = el.attr('type');
    if (type === undefined || type === '') return failHere('no type=...');
    const common = { ...optional('mac', mac(el, failHere)), ...optional('model', model(el, failHere)) };
    if (type === 'network' || type === 'bridge') {
      const vnet = el.child('source')?.attr(type);
      if (vnet === undefined) return failHere(`no <source ${type}=...>`);
      // libvirt's VMware driver writes <source bridge=''/> (RHBZ#1257895);
      // virt-v2v names such a NIC eth<N>, N counting from 0.
      const name = vnet === '' ? `eth${i}` : checkNoControl(vnet, `<source ${type}=...>`, failHere);
      return { ...common, vnet: name, vnetType: type };
    }
    return { ...common, vnet: checkNoControl(type, 'type=...', failHere), vnetType: 'network' as const };
  });
}

function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}
