// How the OVA reader fails: an InputError of the input step whose message is
// one line, "<ova>: <member>: <why>"; a checksum that does not match leads
// with virt-v2v's words, "-i ova: corrupt OVA: ..." (scripts grep
// "error: -i ova: corrupt OVA"). Member names, OVF values and even the
// .ova path come from outside and may hold newlines or terminal escapes, so
// every control character in the message is written as \xNN.
import { AbortError, InputError } from '../../../errors.js';
import { errnoText } from '../../../util/errno.js';

export { errnoText };

// C0, DEL, C1 (NEL among them) and the Unicode line/paragraph separators.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `s` with every control character escaped: safe on one log line. */
export function oneLine(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** InputError "<parts joined by ': '>", step 'input'. */
export function ovaError(parts: string[], cause?: unknown): InputError {
  const err = new InputError(oneLine(parts.filter((p) => p !== '').join(': ')), cause === undefined ? undefined : { cause });
  err.step = 'input';
  return err;
}

/** `err` if it is already ours (an input-step error), else an InputError "<parts>: <strerror>". */
export function asInputError(err: unknown, parts: string[]): unknown {
  if ((err as { step?: unknown } | null)?.step === 'input') return err;
  return ovaError([...parts, errnoText(err)], err);
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const err = new AbortError('input: cancelled', { cause: signal.reason });
    err.step = 'input';
    throw err;
  }
}


