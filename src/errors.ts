// The engine's error classes: few, each with a stable string `code`, named on
// the prototype so the name survives minifiers and realms. Check an error's
// kind by `code` or `name`, not instanceof (errors cross worker threads).
import { getSystemErrorName } from 'node:util';

/** The one table of error codes; an NbdError's code is its errno's name ("EIO"). */
export const ERROR_CODES = [
  'NBD_ERROR',
  'PROCESS_ERROR',
  'CONFIG_ERROR',
  'STATE_ERROR',
  'ABORT_ERR',
  'INPUT_ERROR',
  'INSPECTION_ERROR',
  'NO_OS',
  'NO_PRIVATE_NETWORK',
  'APPLIANCE_BOOT_TIMEOUT',
  'ERR_NBD_CLOSED',
  'UNKNOWN_ERROR',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number] | `E${Uppercase<string>}`;

/** A code from the table (or an errno name), else UNKNOWN_ERROR: codes that cross a thread stay typed. */
export function errorCode(code: unknown): ErrorCode {
  if (typeof code !== 'string') return 'UNKNOWN_ERROR';
  if ((ERROR_CODES as readonly string[]).includes(code) || /^E[A-Z0-9]+$/.test(code)) return code as ErrorCode;
  return 'UNKNOWN_ERROR';
}

/**
 * Hostile text made safe for a one-line message: control characters
 * (newlines included) escaped, and cut to `max` characters.
 */
export function oneLine(text: string, max = 300): string {
  const s = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '; ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

function setName(cls: { prototype: object }, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, enumerable: false, configurable: true });
}

/** Base class of every error the engine raises on purpose. */
export class EngineError extends Error {
  readonly code: ErrorCode;
  /** Which step of the job failed ("copy", "input", ...), when known. */
  step?: string;
  /** Which disk the step was working on, when known. */
  disk?: string;
  /** The log of the step that failed, when it has one. */
  log?: string;
  constructor(code: ErrorCode | string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = errorCode(code);
  }
}
setName(EngineError, 'EngineError');

/** Symbolic name of an errno value ("EIO"), or "E<number>" if unknown. */
export function errnoName(errno: number): string {
  const name = getSystemErrorName(-errno);
  return name.startsWith('Unknown') ? `E${errno}` : name;
}

export interface NbdErrorFields {
  /** The libnbd (or system) call that failed, such as "nbd_aio_pread". */
  op: string;
  /** errno value; 0 if libnbd gave none. */
  errno: number;
  /** Which endpoint: "source nbd+unix:///?socket=...", "target disk.img". */
  endpoint?: string;
  /** Byte offset of the failed request. */
  offset?: number;
}

/**
 * A libnbd or I/O failure. `code` is the symbolic errno ("EIO") as in
 * libnbd's Python binding; the message starts with the failing call.
 */
export class NbdError extends EngineError {
  readonly op: string;
  readonly errno: number;
  readonly endpoint?: string;
  readonly offset?: number;
  /** libnbd's own text, without the op/endpoint/offset prefix. */
  readonly detail: string;
  constructor(detail: string, fields: NbdErrorFields) {
    // libnbd's messages often repeat the call name: "nbd_connect_uri: connect: ...".
    if (detail.startsWith(`${fields.op}: `)) detail = detail.slice(fields.op.length + 2);
    const where = [fields.endpoint, fields.offset !== undefined ? `offset ${fields.offset}` : undefined]
      .filter(Boolean)
      .join(': ');
    super(
      fields.errno ? errnoName(fields.errno) : 'NBD_ERROR',
      `${fields.op}: ${where ? `${where}: ` : ''}${detail}`,
    );
    this.op = fields.op;
    this.errno = fields.errno;
    this.detail = detail;
    if (fields.endpoint !== undefined) this.endpoint = fields.endpoint;
    if (fields.offset !== undefined) this.offset = fields.offset;
  }
}
setName(NbdError, 'NbdError');

/** A subprocess (nbdkit, qemu-img, ...) failed; fields as execa's. */
export class ProcessError extends EngineError {
  command: string;
  exitCode?: number;
  signal?: string;
  stderrTail: string;
  constructor(message: string, fields: { command: string; exitCode?: number; signal?: string; stderrTail?: string }) {
    super('PROCESS_ERROR', message);
    this.command = fields.command;
    if (fields.exitCode !== undefined) this.exitCode = fields.exitCode;
    if (fields.signal !== undefined) this.signal = fields.signal;
    this.stderrTail = fields.stderrTail ?? '';
  }
}
setName(ProcessError, 'ProcessError');

/** Bad options or a bad message: names the path, the expectation, the value. */
export class ConfigError extends EngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIG_ERROR', message, options);
  }
}
setName(ConfigError, 'ConfigError');

/** Bad user input (a missing file, an unusable endpoint). */
export class InputError extends EngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('INPUT_ERROR', message, options);
  }
}
setName(InputError, 'InputError');

/** A message arrived in a state that does not permit it. */
export class StateError extends EngineError {
  constructor(message: string) {
    super('STATE_ERROR', message);
  }
}
setName(StateError, 'StateError');

/** A call on an NbdHandle after close(): misuse, not an I/O failure. */
export class NbdClosedError extends EngineError {
  constructor(message: string) {
    super('ERR_NBD_CLOSED', message);
  }
}
setName(NbdClosedError, 'NbdClosedError');

/** The job was cancelled (Ctrl-C or an AbortSignal). */
export class AbortError extends EngineError {
  constructor(message = 'the operation was cancelled', options?: ErrorOptions) {
    super('ABORT_ERR', message, options);
  }
}
setName(AbortError, 'AbortError');

export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ABORT_ERR';
}

/**
 * Whether MSG already names STEP: it starts with "STEP:", or, for the input
 * step, with the -i option itself ("-i ova: corrupt OVA: ...", virt-v2v's
 * words, which scripts grep right after "error: ").
 */
function namesStep(msg: string, step: string): boolean {
  return msg.startsWith(`${step}:`) || (step === 'input' && msg.startsWith('-i '));
}

/**
 * A step of a job failed: the supervisor wraps the cause once, in one
 * place, adding the step, the disk and the step's log. The code is the
 * cause's (an abort stays ABORT_ERR); the message is the cause's, led by
 * the step's name once.
 */
export class StepError extends EngineError {
  constructor(where: { step: string; disk?: string | undefined; log?: string | undefined }, cause: unknown) {
    const c = cause as Partial<EngineError> | undefined;
    const text = cause instanceof Error ? cause.message : String(cause);
    const own = namesStep(text, where.step) ? text : `${where.step}: ${text}`;
    super(errorCode(c?.code), own, { cause });
    this.step = where.step;
    const disk = where.disk ?? c?.disk;
    if (disk !== undefined) this.disk = disk;
    if (where.log !== undefined) this.log = where.log;
  }
}
setName(StepError, 'StepError');

/** The cause a StepError wraps, else the error itself. */
export function rootCause(err: unknown): unknown {
  return (err as { name?: unknown })?.name === 'StepError' ? (err as Error).cause : err;
}

/**
 * An error as the one line `v2v` prints after "v2v: error: ": its step, the first
 * line of its message, its disk and its log when the message does not say
 * them already. The CLI and a batch's summary use this one function.
 */
export function describeError(err: unknown, opts: { log?: boolean } = {}): string {
  const e = err as Partial<EngineError> | undefined;
  if (isAbortError(err)) return `${e?.step ?? 'job'}: cancelled`;
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = e?.step && !namesStep(msg, e.step) ? `${e.step}: ` : '';
  const disk = e?.disk && !msg.includes(e.disk) ? ` (disk ${e.disk})` : '';
  const log = e?.log && opts.log !== false ? ` (log: ${e.log})` : '';
  return `${prefix}${msg.split('\n')[0]}${disk}${log}`;
}
