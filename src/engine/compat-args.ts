// The parts of a virt-v2v command line checked before anything else, in
// virt-v2v's order and words (scripts grep them): what virt-v2v refuses
// while it reads its options (a duplicate -n/-b/--mac, a bad --root or
// --key), then -io, which each of its input modes refuses before looking
// at the files; -oo follows once the output is known (outputChecks).
import type { V2vArgs } from './command-line.js';
import { checkIoOptions, parseOoOptions, type OoSettings } from './io-options.js';
import type { JobOptionsInput } from './options.js';
import { parseNetworkMap } from '../steps/input/libvirtxml/network-map.js';
import { isRootChoice, parseKeySelector } from '../steps/convert/options.js';
import { ConfigError } from '../errors.js';

/** The conversion's options of a command line (--root, --key), checked; none if neither is given. */
export function convertOf(a: V2vArgs): Pick<JobOptionsInput, 'convert'> {
  if (a.root !== undefined && !isRootChoice(a.root)) throw new ConfigError(`unknown --root option: ${a.root}`);
  const keys = a.keys.map(parseKeySelector);
  if (a.root === undefined && keys.length === 0) return {};
  return { convert: { ...(a.root !== undefined ? { root: a.root } : {}), keys } };
}

/** What virt-v2v checks as it reads its options: the network mapping, --root, --key. */
export function getoptChecks(a: V2vArgs): Pick<JobOptionsInput, 'convert'> {
  parseNetworkMap({ bridges: a.bridges, networks: a.networks, macs: a.macs });
  return convertOf(a);
}

/** Before the input: getoptChecks, then -io. */
export function earlyChecks(a: V2vArgs): Pick<JobOptionsInput, 'convert'> {
  const convert = getoptChecks(a);
  checkIoOptions(a.inputOptions);
  return convert;
}

/** Once the output is known: -oo (virt-v2v reads it only when it goes on past --print-source). */
export function outputChecks(a: V2vArgs): OoSettings {
  return a.printSource ? {} : parseOoOptions(a.outputType, a.outputOptions);
}
