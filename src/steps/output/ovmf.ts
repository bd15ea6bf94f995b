// UEFI firmware (OVMF) for a converted UEFI guest. As virt-v2v's
// find_uefi_firmware (common/utils/uefi.c lists the pairs): the first pair
// of a CODE file and its VARS template that both exist. -o qemu's NAME.sh
// names the pair found; -o local's NAME.xml lets libvirt choose
// (<os firmware='efi'>), but virt-v2v refuses both outputs on a host
// without one (output.ml, error_unless_uefi_firmware), and so do we, at
// output setup, before a disk is created: the guest could not boot here.
//
// V2V_OVMF_PATHS replaces the built-in list (a packaging and test hook):
// pairs "CODE,VARS" separated by ":", as
// V2V_OVMF_PATHS=/opt/ovmf/CODE.fd,/opt/ovmf/VARS.fd
import { existsSync } from 'node:fs';
import { ConfigError, InputError } from '../../errors.js';

export interface Ovmf {
  code: string;
  vars: string;
}

export const OVMF_PATHS_ENV = 'V2V_OVMF_PATHS';

// Debian 12 (ovmf), Fedora/RHEL (edk2-ovmf), older Debian, SUSE.
const OVMF_CANDIDATES: readonly Ovmf[] = [
  { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
  { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
  { code: '/usr/share/qemu/ovmf-x86_64-code.bin', vars: '/usr/share/qemu/ovmf-x86_64-vars.bin' },
];

/** The pairs looked for: $V2V_OVMF_PATHS if set and not empty, else the distributions' paths. */
export function ovmfCandidates(env: NodeJS.ProcessEnv = process.env): Ovmf[] {
  const spec = env[OVMF_PATHS_ENV];
  if (spec === undefined || spec.trim() === '') return [...OVMF_CANDIDATES];
  return spec.split(':').map((pair) => {
    const [code, vars, ...rest] = pair.split(',');
    if (!code?.startsWith('/') || !vars?.startsWith('/') || rest.length > 0) {
      throw new ConfigError(`${OVMF_PATHS_ENV}: ${JSON.stringify(pair)}: expected CODE,VARS (two absolute paths), pairs separated by ":"`);
    }
    return { code, vars };
  });
}

/** The first pair installed here, else the first candidate (`found` false). */
export function findOvmf(env: NodeJS.ProcessEnv = process.env): Ovmf & { found: boolean } {
  const candidates = ovmfCandidates(env);
  const hit = candidates.find((c) => existsSync(c.code) && existsSync(c.vars));
  return { ...(hit ?? candidates[0]!), found: hit !== undefined };
}

/**
 * The firmware for a UEFI guest, or an InputError in one line naming every
 * file looked for (virt-v2v: "cannot find firmware for UEFI guests").
 */
export function requireOvmf(env: NodeJS.ProcessEnv = process.env): Ovmf {
  const found = findOvmf(env);
  if (found.found) return { code: found.code, vars: found.vars };
  const looked = ovmfCandidates(env)
    .map((c) => `${c.code} with ${c.vars}`)
    .join(', ');
  throw new InputError(
    `cannot find firmware for UEFI guests: you probably need to install OVMF (x86-64); looked for ${looked}` +
      (env[OVMF_PATHS_ENV]?.trim() ? ` (from ${OVMF_PATHS_ENV})` : ''),
  );
}
