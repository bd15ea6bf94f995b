// Gate: counting semaphores over named counters ("conversions", "copies",
// "host:esxi1", ...) with one queue of waiters. A waiter names the counters
// it needs and is let through when every one of them has room. Waiters are
// served in arrival order, but one that cannot go yet does not hold back a
// later one that can: a copy from a busy host does not block a copy from
// another host. Waiting honours an AbortSignal: an aborted waiter leaves the
// queue and its promise rejects with an AbortError.
import { AbortError } from '../errors.js';

interface Waiter {
  keys: readonly string[];
  signal: AbortSignal;
  grant: (release: () => void) => void;
  hooks: AcquireHooks;
  onAbort: () => void;
}

export interface AcquireHooks {
  /** Called at once if the waiter has to wait (not when it goes straight through). */
  queued?: () => void;
  /** Called when it is let through, before any other waiter is (the promise resolves later). */
  granted?: () => void;
}

export class Gate {
  private readonly held = new Map<string, number>();
  private readonly queue: Waiter[] = [];

  /** LIMIT(key): how many may hold KEY at once (Infinity = no limit). */
  constructor(private readonly limit: (key: string) => number) {}

  /** How many hold KEY now. */
  count(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** How many wait. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Free now, without waiting? */
  private fits(keys: readonly string[]): boolean {
    return keys.every((k) => this.count(k) < this.limit(k));
  }

  private take(keys: readonly string[]): () => void {
    for (const k of keys) this.held.set(k, this.count(k) + 1);
    let released = false;
    return () => {
      if (released) return; // release is idempotent
      released = true;
      for (const k of keys) {
        const n = this.count(k) - 1;
        if (n > 0) this.held.set(k, n);
        else this.held.delete(k);
      }
      this.pump();
    };
  }

  /** Let through every waiter that fits now, in arrival order. */
  private pump(): void {
    for (let i = 0; i < this.queue.length; ) {
      const w = this.queue[i]!;
      if (!this.fits(w.keys)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      w.signal.removeEventListener('abort', w.onAbort);
      const release = this.take(w.keys);
      w.hooks.granted?.();
      w.grant(release);
    }
  }

  /**
   * Wait until every counter in KEYS has room, take one of each, and resolve
   * with the function that gives them back.
   */
  acquire(keys: readonly string[], signal: AbortSignal, hooks: AcquireHooks = {}): Promise<() => void> {
    if (signal.aborted) return Promise.reject(new AbortError('cancelled while waiting for a slot', { cause: signal.reason }));
    // After every pump no queued waiter fits, so one that fits now takes
    // nothing a waiter before it could have had.
    if (this.fits(keys)) {
      const release = this.take(keys);
      hooks.granted?.();
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        keys,
        signal,
        grant: resolve,
        hooks,
        onAbort: () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new AbortError('cancelled while waiting for a slot', { cause: signal.reason }));
          this.pump(); // a waiter behind it may fit now
        },
      };
      this.queue.push(w);
      signal.addEventListener('abort', w.onAbort, { once: true });
      hooks.queued?.();
    });
  }
}
