// virsh, the one way we talk to libvirt: an argument array (never a shell
// string, never virsh's own `cmd; cmd` parsing), the connection read-only
// (-r: we only read), messages in English (LC_ALL=C: we read them), output
// bounded. The guest name goes after `--`, so a name starting with '-' is
// a name. With no -ic, libvirt's default URI, as virt-v2v connects: virsh's
// own VIRSH_DEFAULT_CONNECT_URI is not given to it.
import { execFile } from 'node:child_process';
import { AbortError, InputError } from '../../../errors.js';
import { MAX_XML_BYTES } from '../libvirtxml/parse.js';
import { quote } from '../vmx/fail.js';

export interface VirshOptions {
  /** -ic URI; undefined: libvirt's default. */
  connection?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** What virsh said on failure: its `error: ...` lines, joined into one line. */
export class VirshFailure extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join(': '));
  }
}

function inputError(message: string, cause?: unknown): InputError {
  const err = new InputError(message.replace(/[\x00-\x1F\x7F\u2028\u2029]/g, ' '), cause === undefined ? undefined : { cause });
  err.step = 'input';
  return err;
}

/** The `error: ` lines of virsh's stderr, without the prefix; its last line if there are none. */
function errorLines(stderr: string): string[] {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('error: ')).map((l) => l.slice('error: '.length));
  return errors.length > 0 ? errors : lines.slice(-1);
}

/** Run `virsh [-c URI] -r -q ARGS...`: its stdout, or a VirshFailure. */
export function virsh(args: string[], o: VirshOptions): Promise<Buffer> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env.VIRSH_DEFAULT_CONNECT_URI;
  delete env.LANGUAGE;
  const argv = [...(o.connection !== undefined ? ['-c', o.connection] : []), '-r', '-q', ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      'virsh',
      argv,
      { env, encoding: 'buffer', maxBuffer: MAX_XML_BYTES + 1, windowsHide: true, ...(o.signal ? { signal: o.signal } : {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (o.signal?.aborted) return reject(new AbortError('input: virsh: cancelled', { cause: err }));
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return reject(inputError('-i libvirt: virsh was not found (install libvirt-clients)', err));
        if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return reject(inputError(`-i libvirt: virsh ${args[0]}: more than ${MAX_XML_BYTES} bytes of output; not a libvirt domain`, err));
        }
        const text = stderr.toString('utf8');
        const errors = errorLines(text);
        reject(new VirshFailure(errors.length > 0 ? errors : [`virsh ${args[0]} failed (${err.signal ?? `exit ${String(code)}`})`]));
      },
    );
    // Nothing to read: a libvirt auth prompt on stdin fails at once instead of waiting (ssh asks on the tty).
    child.stdin?.end();
  });
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
