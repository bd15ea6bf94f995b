// Errors crossing a thread boundary: postMessage keeps only message and stack
// of an Error and drops its class and fields, so errors travel as this
// explicit plain object and are rebuilt on the other side.
import * as z from 'zod';
import {
  AbortError,
  ConfigError,
  EngineError,
  InputError,
  NbdError,
  ProcessError,
  StateError,
  StepError,
  NbdClosedError,
} from '../errors.js';

export interface WireError {
  name: string;
  code: string;
  message: string;
  detail?: string | undefined;
  op?: string | undefined;
  errno?: number | undefined;
  endpoint?: string | undefined;
  offset?: number | undefined;
  step?: string | undefined;
  disk?: string | undefined;
  log?: string | undefined;
  command?: string | undefined;
  exitCode?: number | undefined;
  signal?: string | undefined;
  stderrTail?: string | undefined;
  stack?: string | undefined;
  cause?: WireError | undefined;
}

export const WireError: z.ZodType<WireError> = z.lazy(() =>
  z.object({
    name: z.string(),
    code: z.string(),
    message: z.string(),
    detail: z.string().optional(),
    op: z.string().optional(),
    errno: z.number().int().optional(),
    endpoint: z.string().optional(),
    offset: z.number().optional(),
    step: z.string().optional(),
    disk: z.string().optional(),
    log: z.string().optional(),
    command: z.string().optional(),
    exitCode: z.number().int().optional(),
    signal: z.string().optional(),
    stderrTail: z.string().optional(),
    stack: z.string().optional(),
    cause: WireError.optional(),
  }),
);

export function toWireError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) {
    return { name: 'Error', code: 'UNKNOWN_ERROR', message: String(err) };
  }
  const e = err as Error & Partial<NbdError & ProcessError & EngineError>;
  const out: WireError = {
    name: e.name,
    code: typeof e.code === 'string' ? e.code : 'UNKNOWN_ERROR',
    message: e.message,
    stack: e.stack,
  };
  if (e.name === 'NbdError') {
    out.detail = e.detail;
    out.op = e.op;
    out.errno = e.errno;
    out.endpoint = e.endpoint;
    out.offset = e.offset;
  }
  if (e.name === 'ProcessError') {
    out.command = e.command;
    out.exitCode = e.exitCode;
    out.signal = e.signal;
    out.stderrTail = e.stderrTail;
  }
  if (e.step !== undefined) out.step = e.step;
  if (e.disk !== undefined) out.disk = e.disk;
  if (e.log !== undefined) out.log = e.log;
  if (e.cause !== undefined && depth < 4) out.cause = toWireError(e.cause, depth + 1);
  return out;
}

type Rebuild = (w: WireError, cause: { cause: Error } | undefined) => Error;

/** How each of our classes is rebuilt: one entry per class, the shared fields copied after. */
const REBUILD: Record<string, Rebuild> = {
  NbdError: (w) =>
    new NbdError(w.detail ?? w.message, {
      op: w.op ?? 'unknown',
      errno: w.errno ?? 0,
      ...(w.endpoint !== undefined ? { endpoint: w.endpoint } : {}),
      ...(w.offset !== undefined ? { offset: w.offset } : {}),
    }),
  ProcessError: (w) =>
    new ProcessError(w.message, {
      command: w.command ?? '',
      ...(w.exitCode !== undefined ? { exitCode: w.exitCode } : {}),
      ...(w.signal !== undefined ? { signal: w.signal } : {}),
      ...(w.stderrTail !== undefined ? { stderrTail: w.stderrTail } : {}),
    }),
  AbortError: (w, cause) => new AbortError(w.message, cause),
  ConfigError: (w, cause) => new ConfigError(w.message, cause),
  InputError: (w, cause) => new InputError(w.message, cause),
  StateError: (w) => new StateError(w.message),
  NbdClosedError: (w) => new NbdClosedError(w.message),
  StepError: (w, cause) => {
    const e = new StepError({ step: w.step ?? 'job' }, cause?.cause ?? w.message);
    e.message = w.message;
    return e;
  },
};

export function fromWireError(w: WireError): Error {
  const cause = w.cause ? { cause: fromWireError(w.cause) } : undefined;
  const rebuild = REBUILD[w.name];
  let err: Error;
  if (rebuild) err = rebuild(w, cause);
  else {
    err = new EngineError(w.code, w.message, cause);
    Object.defineProperty(err, 'name', { value: w.name, enumerable: false, configurable: true, writable: true });
  }
  if (cause && err.cause === undefined) err.cause = cause.cause;
  if (w.stack) err.stack = w.stack;
  const e = err as EngineError;
  if (w.step !== undefined) e.step = w.step;
  if (w.disk !== undefined) e.disk = w.disk;
  if (w.log !== undefined) e.log = w.log;
  return err;
}
