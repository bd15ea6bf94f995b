// Typed reads of .vmx entries: booleans, bounded integers and text that is
// safe to pass on (no control characters: "|0A" can put a newline in any
// value). A value of the wrong type is an error naming its line and key.
import { at, hasControl, quote, show, vmxError } from './fail.js';
import type { VmxEntries, VmxEntry } from './syntax.js';

/** Reads typed values from the entries of one .vmx file. */
export class VmxValues {
  constructor(
    readonly entries: VmxEntries,
    readonly file: string,
  ) {}

  /** The entry of `key` (any case), if there is one. */
  get(key: string): VmxEntry | undefined {
    return this.entries.get(key.toLowerCase());
  }

  /** The value of `key`, refused if it holds control characters; "" is absent. */
  text(key: string): string | undefined {
    const e = this.get(key);
    if (e === undefined || e.value === '') return undefined;
    if (hasControl(e.value)) throw this.fail(e, `${quote(e.value)} holds a control character`);
    return e.value;
  }

  /** TRUE/FALSE (also true, yes, 1 / false, no, 0), or undefined if absent. */
  bool(key: string): boolean | undefined {
    const e = this.get(key);
    if (e === undefined) return undefined;
    const v = e.value.trim().toLowerCase();
    if (v === 'true' || v === 'yes' || v === '1') return true;
    if (v === 'false' || v === 'no' || v === '0') return false;
    throw this.fail(e, `${quote(e.value)} is not TRUE or FALSE`);
  }

  /** A decimal integer in [min, max], or undefined if absent. */
  int(key: string, min: number, max: number): number | undefined {
    const e = this.get(key);
    if (e === undefined) return undefined;
    const v = e.value.trim();
    if (!/^\d{1,15}$/.test(v)) throw this.fail(e, `${quote(e.value)} is not a number`);
    const n = Number(v);
    if (n < min || n > max) throw this.fail(e, `${n} is out of range (${min} to ${max})`);
    return n;
  }

  /** "FILE: line N: KEY: WHY". */
  fail(e: VmxEntry, why: string) {
    return vmxError(this.file, `${at(e.line)}${show(e.key)}: ${why}`);
  }
}
