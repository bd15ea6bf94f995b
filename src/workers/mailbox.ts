// An actor's mailbox (G3): the coordinator's messages on a port, parsed with
// their zod union and taken one at a time. A cancel also fires `cancelled`
// at once, so that the step running can stop before the actor reads it.
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type * as z from 'zod';
import { AbortError } from '../errors.js';

export interface Mailbox<M> {
  next(): Promise<M>;
  /** Fired by the first cancel message. */
  readonly cancelled: AbortSignal;
  /** The error a cancelled step ends with. */
  cancelReason(): AbortError;
}

export function mailbox<S extends z.ZodType<{ type: string }>>(port: MessagePort, schema: S, log: Logger): Mailbox<z.infer<S>> {
  type M = z.infer<S>;
  const queue: M[] = [];
  const waiting: ((m: M) => void)[] = [];
  const cancel = new AbortController();
  port.on('message', (raw: unknown) => {
    const m = schema.safeParse(raw);
    if (!m.success) {
      log.warn({ message: raw }, 'ignored a malformed message');
      return;
    }
    if (m.data.type.endsWith('.cancel')) cancel.abort();
    const w = waiting.shift();
    if (w) w(m.data);
    else queue.push(m.data);
  });
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))),
    cancelled: cancel.signal,
    cancelReason: () => new AbortError('cancelled'),
  };
}
