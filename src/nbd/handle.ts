// A typed wrapper of the addon's NbdHandle: checks arguments, keeps policy
// (names, debug tracing) out of C++, and offers extents as objects. Method
// names follow libnbd's, so its man pages document them.
import type { Logger } from 'pino';
import { addon, type NativeNbdHandle } from './binding.js';

export const CMD_FLAG = { FUA: 0x01, NO_HOLE: 0x02, DF: 0x04, REQ_ONE: 0x08, FAST_ZERO: 0x10 } as const;
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
export const CONTEXT_BASE_ALLOCATION = 'base:allocation';
const SIZE_KIND = { minimum: 0, preferred: 1, maximum: 2 } as const;
/** libnbd 1.14 has no 64-bit requests: zero, trim and block status are capped. */
export const MAX_32BIT_REQUEST = 0xffff_ffff;

export interface Extent {
  offset: number;
  length: number;
  flags: number;
}

export interface ConnectTarget {
  uri?: string;
  unix?: string;
  tcp?: { host: string; port: number | string };
  command?: string[];
  systemdSocketActivation?: string[];
}

/** One connection to an NBD server; close() is idempotent and never throws. */
export class NbdHandle {
  readonly name: string;
  readonly #h: NativeNbdHandle;
  readonly #log: Logger | undefined;
  #closed = false;

  constructor(name = 'nbd', options: { metaContexts?: string[]; log?: Logger } = {}) {
    this.name = name;
    this.#h = new addon.NbdHandle(name);
    this.#log = options.log?.child({ handle: name });
    for (const ctx of options.metaContexts ?? []) this.#h.addMetaContext(ctx);
  }

  async #trace<T>(call: string, args: object, fn: () => Promise<T>): Promise<T> {
    const log = this.#log;
    if (!log?.isLevelEnabled('trace')) return fn();
    log.trace({ call, ...args }, 'enter');
    try {
      const r = await fn();
      log.trace({ call }, 'leave');
      return r;
    } catch (err) {
      log.trace({ call, err }, 'leave: error');
      throw err;
    }
  }

  addMetaContext(name: string): void {
    this.#h.addMetaContext(name);
  }
  setExportName(name: string): void {
    this.#h.setExportName(name);
  }
  /** false skips libnbd's memset of read buffers (they are overwritten anyway). */
  setPreadInitialize(on: boolean): void {
    this.#h.setPreadInitialize(on);
  }

  connect(target: ConnectTarget): Promise<void> {
    return this.#trace('connect', target, () => {
      if (target.uri !== undefined) return this.#h.connectUri(target.uri);
      if (target.unix !== undefined) return this.#h.connectUnix(target.unix);
      if (target.tcp !== undefined) return this.#h.connectTcp(target.tcp.host, String(target.tcp.port));
      if (target.command !== undefined) return this.#h.connectCommand(target.command);
      if (target.systemdSocketActivation !== undefined)
        return this.#h.connectSystemdSocketActivation(target.systemdSocketActivation);
      throw new TypeError('connect: give one of uri, unix, tcp, command, systemdSocketActivation');
    });
  }

  get size(): number {
    return this.#h.getSize();
  }
  get readOnly(): boolean {
    return this.#h.isReadOnly();
  }
  canMultiConn(): boolean {
    return this.#h.canMultiConn();
  }
  canZero(): boolean {
    return this.#h.canZero();
  }
  canFastZero(): boolean {
    return this.#h.canFastZero();
  }
  canTrim(): boolean {
    return this.#h.canTrim();
  }
  canFlush(): boolean {
    return this.#h.canFlush();
  }
  canFua(): boolean {
    return this.#h.canFua();
  }
  canMetaContext(name: string): boolean {
    return this.#h.canMetaContext(name);
  }
  blockSize(kind: keyof typeof SIZE_KIND): number {
    return this.#h.getBlockSize(SIZE_KIND[kind]);
  }
  get inFlight(): number {
    return this.#h.inFlight();
  }

  pread(buf: Uint8Array, offset: number, flags = 0): Promise<void> {
    return this.#trace('pread', { count: buf.byteLength, offset }, () => this.#h.pread(buf, offset, flags));
  }
  pwrite(buf: Uint8Array, offset: number, flags = 0): Promise<void> {
    return this.#trace('pwrite', { count: buf.byteLength, offset }, () => this.#h.pwrite(buf, offset, flags));
  }
  zero(count: number, offset: number, flags = 0): Promise<void> {
    checkCount('zero', count);
    return this.#trace('zero', { count, offset }, () => this.#h.zero(count, offset, flags));
  }
  trim(count: number, offset: number, flags = 0): Promise<void> {
    checkCount('trim', count);
    return this.#trace('trim', { count, offset }, () => this.#h.trim(count, offset, flags));
  }
  flush(flags = 0): Promise<void> {
    return this.#trace('flush', {}, () => this.#h.flush(flags));
  }

  /** Extents of one meta context (base:allocation unless named) for [offset, offset+count). */
  async blockStatus(count: number, offset: number, context = CONTEXT_BASE_ALLOCATION, flags = 0): Promise<Extent[]> {
    checkCount('block_status', count);
    const replies = await this.#trace('block_status', { count, offset }, () =>
      this.#h.blockStatus(count, offset, flags),
    );
    const out: Extent[] = [];
    for (const r of replies) {
      if (r.context !== context) continue;
      let off = r.offset;
      for (let i = 0; i + 1 < r.entries.length; i += 2) {
        const length = r.entries[i]!;
        out.push({ offset: off, length, flags: r.entries[i + 1]! });
        off += length;
      }
    }
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#h.close();
    } catch (err) {
      this.#log?.warn({ err }, 'close failed');
    }
  }
}

function checkCount(call: string, count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > MAX_32BIT_REQUEST) {
    throw new RangeError(`${call}: count must be an integer from 0 to 4 GiB - 1 (libnbd 1.14), got ${count}`);
  }
}

/** Live native objects in this thread (for leak checks in tests). */
export function nativeStats(): { handles: number; copiers: number } {
  return addon.stats();
}
export const libnbdVersion: string = addon.libnbdVersion;
