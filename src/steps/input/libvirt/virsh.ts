// -i libvirt's questions to libvirt, through virsh (src/libvirt/virsh.ts),
// read-only (-r: we only read): the connection's URI, the guest's state,
// its persistent XML, a volume's XML.
import { InputError } from '../../../errors.js';
import { virsh as runVirsh, oneLine, VirshFailure } from '../../../libvirt/virsh.js';
import { quote } from '../vmx/fail.js';

export { VirshFailure } from '../../../libvirt/virsh.js';

export interface VirshOptions {
  /** -ic URI; undefined: libvirt's default. */
  connection?: string | undefined;
  signal?: AbortSignal | undefined;
}

function inputError(message: string, cause?: unknown): InputError {
  const err = new InputError(oneLine(message), cause === undefined ? undefined : { cause });
  err.step = 'input';
  return err;
}

/** Run `virsh [-c URI] -r -q ARGS...` for -i libvirt: its stdout, or a VirshFailure. */
export function virsh(args: string[], o: VirshOptions): Promise<Buffer> {
  return runVirsh(args, { ...o, readOnly: true, label: '-i libvirt', fail: inputError });
}

/** The URI libvirt connected to (virsh uri): what libvirt's default URI is. */
export async function connectionUri(o: VirshOptions & { label: string }): Promise<string> {
  try {
    return (await virsh(['uri'], o)).toString('utf8').trim();
  } catch (err) {
    if (!(err instanceof VirshFailure)) throw err;
    throw inputError(`${o.label}: ${err.message}`, err);
  }
}

/** The guest's state as virsh domstate prints it ("running", "shut off", "paused", "idle", ...). */
export async function domainState(guest: string, o: VirshOptions & { label: string }): Promise<string> {
  try {
    return (await virsh(['domstate', '--', guest], o)).toString('utf8').trim();
  } catch (err) {
    if (!(err instanceof VirshFailure)) throw err;
    // What virsh says first when the lookup (by ID, UUID, then name) found nothing.
    if (err.errors[0] === `failed to get domain '${guest}'`) {
      const more = err.errors.slice(1).join(': ');
      throw inputError(`cannot find libvirt domain ‘${guest}’${o.connection !== undefined ? ` (-ic ${o.connection})` : ''}${more ? `: ${more}` : ''}`, err);
    }
    throw inputError(`${o.label}: ${err.message}`, err);
  }
}

/** The guest's persistent definition (virsh dumpxml --inactive), as UTF-8 text. */
export async function domainXml(guest: string, o: VirshOptions & { label: string }): Promise<string> {
  let out: Buffer;
  try {
    out = await virsh(['dumpxml', '--inactive', '--', guest], o);
  } catch (err) {
    if (!(err instanceof VirshFailure)) throw err;
    throw inputError(`${o.label}: virsh dumpxml: ${err.message}`, err);
  }
  const nul = out.indexOf(0);
  if (nul >= 0) throw inputError(`${o.label}: virsh dumpxml: binary output (NUL byte at offset ${nul})`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(out);
  } catch (err) {
    throw inputError(`${o.label}: virsh dumpxml: output is not valid UTF-8`, err);
  }
}

/** A volume of a storage pool (virsh vol-dumpxml), for <disk type='volume'>. */
export async function volumeXml(pool: string, volume: string, o: VirshOptions & { label: string }): Promise<string> {
  try {
    return (await virsh(['vol-dumpxml', '--pool', pool, '--', volume], o)).toString('utf8');
  } catch (err) {
    if (!(err instanceof VirshFailure)) throw err;
    throw inputError(`${o.label}: cannot find libvirt volume ${quote(volume)} of pool ${quote(pool)}: ${err.message}`, err);
  }
}
