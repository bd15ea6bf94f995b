// virt-v2v's network mapping options (networks.ml, cmdline.ml):
//   -n IN:OUT / -b IN:OUT   the source network / bridge IN becomes OUT
//   -n OUT    / -b OUT      every other source network / bridge becomes OUT
//   --mac MAC:network:OUT / --mac MAC:bridge:OUT   the NIC with that MAC
// A NIC takes the first that applies: its --mac, the IN:OUT of its kind,
// the default of its kind; else it keeps its source network.
// Differences from virt-v2v: `-n :OUT` and `-n IN:` (virt-v2v reads either
// as a default) are refused as ambiguous, and --mac MAC:ip:... (static IPs
// set inside a Windows guest) is not supported.
import { ConfigError } from '../../../errors.js';
import type { SourceNic } from '../source.js';
import { MAC_RE } from './nics.js';
import { quote } from './xml.js';

export interface NetworkMapOptions {
  /** -b values. */
  bridges: string[];
  /** -n values. */
  networks: string[];
  /** --mac values. */
  macs: string[];
}

type VnetType = SourceNic['vnetType'];

interface KindMap {
  /** IN -> OUT. */
  specific: ReadonlyMap<string, string>;
  /** The OUT of a bare `-n OUT` / `-b OUT`. */
  default?: string;
}

export interface NetworkMap {
  network: KindMap;
  bridge: KindMap;
  /** Lower-case MAC -> where that NIC goes. */
  macs: ReadonlyMap<string, { vnetType: VnetType; vnet: string }>;
}

function checkName(name: string, option: string, value: string): string {
  if (/[\x00-\x1F\x7F]/.test(name)) throw new ConfigError(`${option} ${quote(value)}: names must not contain control characters`);
  return name;
}

function parseKind(option: '-n' | '-b', values: string[]): KindMap {
  const specific = new Map<string, string>();
  const by = new Map<string, string>();
  let def: { out: string; value: string } | undefined;
  const what = option === '-n' ? 'network' : 'bridge';
  // virt-v2v's words (networks.ml), which scripts grep: "duplicate -b/--bridge parameter".
  const dup = `duplicate ${option}/--${what} parameter`;
  for (const value of values) {
    const colon = value.indexOf(':');
    const [from, to] = colon < 0 ? [undefined, value] : [value.slice(0, colon), value.slice(colon + 1)];
    if (from === '' || to === '') {
      throw new ConfigError(`${option} ${quote(value)}: expected ${option} IN:OUT or ${option} OUT, with non-empty names`);
    }
    checkName(value, option, value);
    if (from === undefined) {
      if (def) throw new ConfigError(`${dup}.  Only one default mapping is allowed (${option} ${quote(def.value)}, then ${option} ${quote(value)})`);
      def = { out: to, value };
    } else {
      const earlier = by.get(from);
      if (earlier !== undefined) {
        throw new ConfigError(
          `${dup}.  Duplicate mappings specified for ${what} ${quote(from)} (${option} ${quote(earlier)}, then ${option} ${quote(value)})`,
        );
      }
      specific.set(from, to);
      by.set(from, value);
    }
  }
  return { specific, ...(def ? { default: def.out } : {}) };
}

function parseMacs(values: string[]): NetworkMap['macs'] {
  const macs = new Map<string, { vnetType: VnetType; vnet: string }>();
  const by = new Map<string, string>();
  for (const value of values) {
    const m = /^([^:]{2}(?::[^:]{2}){5}):(network|bridge|ip):(.*)$/s.exec(value);
    if (!m || !MAC_RE.test(m[1]!)) {
      throw new ConfigError(`--mac ${quote(value)}: expected --mac MAC:network:OUT or --mac MAC:bridge:OUT, MAC as aa:bb:cc:dd:ee:ff`);
    }
    const [, macText, kind, out] = m as unknown as [string, string, 'network' | 'bridge' | 'ip', string];
    if (kind === 'ip') throw new ConfigError(`--mac ${quote(value)}: static IP addresses (--mac MAC:ip:...) are not supported`);
    if (out === '') throw new ConfigError(`--mac ${quote(value)}: the ${kind} name is empty`);
    checkName(out, '--mac', value);
    const mac = macText.toLowerCase();
    const earlier = by.get(mac);
    if (earlier !== undefined) {
      throw new ConfigError(`duplicate --mac parameter.  Duplicate mappings specified for MAC address ${mac} (--mac ${quote(earlier)}, then --mac ${quote(value)})`);
    }
    macs.set(mac, { vnetType: kind, vnet: out });
    by.set(mac, value);
  }
  return macs;
}

/** Check and parse -n, -b and --mac; every rejection is a ConfigError naming the option and value. */
export function parseNetworkMap(options: NetworkMapOptions): NetworkMap {
  return { network: parseKind('-n', options.networks), bridge: parseKind('-b', options.bridges), macs: parseMacs(options.macs) };
}

/** The NICs as the target gets them (new objects; `nics` is not changed). */
export function applyNetworkMap(nics: SourceNic[], map: NetworkMap): SourceNic[] {
  return nics.map((nic) => {
    const byMac = nic.mac === undefined ? undefined : map.macs.get(nic.mac.toLowerCase());
    if (byMac) return { ...nic, ...byMac };
    const kind = map[nic.vnetType];
    const out = kind.specific.get(nic.vnet) ?? kind.default;
    return out === undefined ? { ...nic } : { ...nic, vnet: out };
  });
}
