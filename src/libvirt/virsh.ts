// virsh, the one way we talk to libvirt (-i libvirt reads a domain, -o
// libvirt makes volumes and defines one): an argument array (never a shell
// string, never virsh's own `cmd; cmd` parsing), messages in English
// (LC_ALL=C: we read them), output bounded, stdin closed (an auth prompt
// fails at once instead of waiting). Names go after `--`, so a name
// starting with '-' is a name. With no URI, libvirt's default, as virt-v2v
// connects: virsh's own VIRSH_DEFAULT_CONNECT_URI is not given to it.
import { execFile } from 'node:child_process';
import { AbortError } from '../errors.js';

/** The most a virsh command may print: a domain XML of 16 MiB is no domain. */
export const MAX_VIRSH_OUTPUT = 16 * 1024 * 1024;

export interface VirshOptions {
  /** -ic / -oc URI; undefined: libvirt's default. */
  connection?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Connect read-only (virsh -r): all -i libvirt does. */
  readOnly?: boolean;
  /** Who asks, for errors that are not libvirt's: '-i libvirt', '-o libvirt'. */
  label: string;
  /** The error to throw for a message of ours (virsh missing, too much output). */
  fail: (message: string, cause: unknown) => Error;
}

/** What virsh said on failure: its `error: ...` lines, joined into one line. */
export class VirshFailure extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join(': '));
  }
}

/** The `error: ` lines of virsh's stderr, without the prefix; its last line if there are none. */
function errorLines(stderr: string): string[] {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('error: ')).map((l) => l.slice('error: '.length));
  return errors.length > 0 ? errors : lines.slice(-1);
}

/** One line, without control characters: a message that goes into our own one-line error. */
export const oneLine = (s: string): string => s.replace(/[\x00-\x1F\x7F\u2028\u2029]/g, ' ');

/** Run `virsh [-c URI] [-r] -q ARGS...`: its stdout, or a VirshFailure. */
export function virsh(args: string[], o: VirshOptions): Promise<Buffer> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env.VIRSH_DEFAULT_CONNECT_URI;
  delete env.LANGUAGE;
  const argv = [...(o.connection !== undefined ? ['-c', o.connection] : []), ...(o.readOnly ? ['-r'] : []), '-q', ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      'virsh',
      argv,
      { env, encoding: 'buffer', maxBuffer: MAX_VIRSH_OUTPUT + 1, windowsHide: true, ...(o.signal ? { signal: o.signal } : {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (o.signal?.aborted) return reject(new AbortError(`${o.label}: virsh: cancelled`, { cause: err }));
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return reject(o.fail(`${o.label}: virsh was not found (install libvirt-clients)`, err));
        if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return reject(o.fail(`${o.label}: virsh ${args[0]}: more than ${MAX_VIRSH_OUTPUT} bytes of output`, err));
        }
        const errors = errorLines(stderr.toString('utf8')).map(oneLine);
        reject(new VirshFailure(errors.length > 0 ? errors : [`virsh ${args[0]} failed (${err.signal ?? `exit ${String(code)}`})`]));
      },
    );
    child.stdin?.end();
  });
}
