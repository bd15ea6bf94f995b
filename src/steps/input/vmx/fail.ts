// Errors of the -i vmx parser: every rejection is an InputError of the input
// step whose message is one line starting with the .vmx file's path. Values
// come from a hostile file (a "|0A" escape is a newline), so anything quoted
// from the file goes through show() or quote() first.
import { InputError } from '../../../errors.js';

const MAX_SHOWN = 200;
// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** `s` as JSON, one line, cut to MAX_SHOWN characters. */
export function quote(s: string): string {
  const cut = s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...` : s;
  return JSON.stringify(cut).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `s` as it is when that is safe to print on one line, else quote(s). */
export function show(s: string): string {
  return s === '' || UNSAFE.test(s) || s.length > MAX_SHOWN || s.trim() !== s ? quote(s) : s;
}

/** True if `s` holds a control character (or a line separator). */
export function hasControl(s: string): boolean {
  return UNSAFE.test(s);
}

/** "FILE: WHY" as an InputError of the input step. */
export function vmxError(file: string, why: string, cause?: unknown): InputError {
  const err = new InputError(`${show(file)}: ${why}`, cause === undefined ? undefined : { cause });
  err.step = 'input';
  return err;
}

/** "line N: " for messages; "" when the line is not known. */
export function at(line: number | undefined): string {
  return line === undefined ? '' : `line ${line}: `;
}
