// The network cards of a .vmx: `ethernetN` with `.present = "TRUE"`, in
// port order. As virt-v2v (parse_domain_from_vmx.ml, find_nics):
// - model: `.virtualDev` lower-cased (e1000, e1000e, vmxnet3, vlance, ...);
// - vnet: `.networkName` (ESXi's port group), else the port's own name
//   "ethernetN", not a made-up "VM Network": the user maps it with
//   --network/--bridge either way, and "ethernet1" says which card it is;
// - vnetType: 'bridge' when `.connectionType = "bridged"` (Workstation),
//   else 'network'.
// MAC: virt-v2v reads only `.generatedAddress`; we also read `.address`,
// which is where VMware keeps a static MAC (`.addressType = "static"`).
// A MAC that is not aa:bb:cc:dd:ee:ff is an error, not a NIC without one.
import type { SourceNic } from '../source.js';
import { quote } from './fail.js';
import type { VmxValues } from './values.js';

const PORT = /^ethernet(0|[1-9]\d{0,2})\./;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function mac(v: VmxValues, port: string): string | undefined {
  const keys = [`${port}.generatedAddress`, `${port}.address`];
  if (v.text(`${port}.addressType`)?.toLowerCase() === 'static') keys.reverse();
  const key = keys.find((k) => v.text(k) !== undefined);
  if (key === undefined) return undefined;
  const value = v.text(key)!.trim();
  if (!MAC.test(value)) throw v.fail(v.get(key)!, `${quote(value)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return value.toLowerCase();
}

function nic(v: VmxValues, port: string): SourceNic {
  const n: SourceNic = {
    vnet: v.text(`${port}.networkName`) ?? port,
    vnetType: v.text(`${port}.connectionType`)?.toLowerCase() === 'bridged' ? 'bridge' : 'network',
  };
  const address = mac(v, port);
  if (address !== undefined) n.mac = address;
  const model = v.text(`${port}.virtualDev`);
  if (model !== undefined) n.model = model.toLowerCase();
  return n;
}

/** The present NICs, by port number. */
export function nics(v: VmxValues): SourceNic[] {
  const ports = new Map<string, number>();
  for (const key of v.entries.keys()) {
    const m = PORT.exec(key);
    if (m) ports.set(`ethernet${m[1]}`, Number(m[1]));
  }
  return [...ports]
    .filter(([port]) => v.bool(`${port}.present`) === true)
    .sort((a, b) => a[1] - b[1])
    .map(([port]) => nic(v, port));
}
