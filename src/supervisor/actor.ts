// The coordinator's handle on one step actor (workers/step-worker.ts): the
// task runs on a pool thread; messages go both ways over a MessageChannel,
// zod-checked on arrival; the task's result is parsed and a failure rebuilt
// as the typed error it was. If an actor does not finish within graceMs of
// being cancelled, its thread is terminated (its servers go with it: they
// were started with --exit-with-parent from that thread).
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { AbortError, type EngineError } from '../errors.js';
import { fromWireError } from '../protocol/wire-error.js';
import {
  FromStepActor,
  StepResult,
  type StepDone,
  type StepTaskBody,
  type ToStepActor,
} from '../protocol/step-messages.js';

type Msg = FromStepActor;

export interface Actor {
  /** The next message of this type from the actor; rejects if the task ends first. */
  expect<T extends Msg['type']>(type: T): Promise<Extract<Msg, { type: T }>>;
  send(m: ToStepActor): void;
  /** Ask it to stop and undo; terminate the thread if it has not ended after graceMs. */
  cancel(graceMs?: number): void;
  /** The task's end: its StepDone, or its error (step and disk kept). */
  readonly done: Promise<StepDone>;
}

export function startActor(
  pool: Piscina,
  task: StepTaskBody,
  tags: { step: string; disk?: string },
  onWarning?: (message: string) => void,
): Actor {
  // Warnings come with the result (a port message sent just before it could
  // arrive after the port is closed).
  const { port1, port2 } = new MessageChannel();
  const terminate = new AbortController();
  const inbox: Msg[] = [];
  const waiting: { type: string; resolve: (m: Msg) => void; reject: (e: unknown) => void }[] = [];
  let ended: unknown;
  port1.on('message', (raw: unknown) => {
    const m = FromStepActor.parse(raw);
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  const done = (async (): Promise<StepDone> => {
    try {
      let raw: unknown;
      try {
        raw = await pool.run({ ...task, port: port2 }, { transferList: [port2] as never, signal: terminate.signal });
      } catch (err) {
        if (terminate.signal.aborted) throw new AbortError(`${tags.step}: cancelled (the actor was terminated)`);
        throw err;
      }
      const r = StepResult.parse(raw);
      if (r.type === 'step.failed') {
        const err = fromWireError(r.error) as EngineError;
        err.step ??= tags.step;
        if (tags.disk) err.disk ??= tags.disk;
        throw err;
      }
      for (const w of r.warnings ?? []) onWarning?.(w);
      return r;
    } catch (err) {
      ended = err;
      throw err;
    } finally {
      ended ??= new AbortError(`${tags.step}: the actor ended`);
      for (const w of waiting.splice(0)) w.reject(ended);
      port1.close();
    }
  })();
  done.catch(() => {}); // observed through expect() or awaited by the owner
  let graceTimer: NodeJS.Timeout | undefined;
  void done.finally(() => clearTimeout(graceTimer)).catch(() => {});
  return {
    expect<T extends Msg['type']>(type: T) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as Extract<Msg, { type: T }>);
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => waiting.push({ type, resolve: resolve as (m: Msg) => void, reject }));
    },
    send(m) {
      if (!ended) port1.postMessage(m);
    },
    cancel(graceMs = 3000) {
      if (ended) return;
      port1.postMessage({ type: 'step.cancel' } satisfies ToStepActor);
      graceTimer ??= setTimeout(() => terminate.abort(), graceMs);
    },
    done,
  };
}
