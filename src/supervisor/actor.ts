// The coordinator's handle on one step actor (src/workers/step-worker.ts):
// the task runs on a pool thread; messages go both ways over a
// MessageChannel, zod-checked on arrival; the task's result is parsed and a
// failure rebuilt as the typed error it was (the pipeline wraps it with the
// step and disk, in one place). If an actor does not end within graceMs of
// being cancelled, its thread is terminated (its servers go with it: they
// were started with --exit-with-parent from that thread).
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { AbortError } from '../errors.js';
import { fromWireError } from '../protocol/wire-error.js';
import {
  ActorResult,
  FromActor,
  type ActorDone,
  type ActorReady,
  type ActorStartBody,
  type ToActor,
} from '../protocol/step-messages.js';

type Distribute<T> = T extends unknown ? Omit<T, 'type' | 'jobId' | 'actorId'> : never;

export interface Actor {
  readonly id: string;
  /** The step's output once it holds what it made (input, output setup); rejects if the task ends first. */
  readonly ready: Promise<ActorReady['output']>;
  /** The task's end: its ActorDone, or its error. */
  readonly done: Promise<ActorDone>;
  send(m: Distribute<ToActor>): void;
  /** Ask it to stop and undo; terminate the thread if it has not ended after graceMs. */
  cancel(graceMs?: number): void;
}

export function startActor(pool: Piscina, body: ActorStartBody, onWarning?: (message: string) => void): Actor {
  const { port1, port2 } = new MessageChannel();
  const terminate = new AbortController();
  const ids = { jobId: body.jobId, actorId: body.actorId };
  let ended = false;
  let readyResolve!: (o: ActorReady['output']) => void;
  let readyReject!: (e: unknown) => void;
  const ready = new Promise<ActorReady['output']>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  ready.catch(() => {}); // observed by whoever waits for it
  port1.on('message', (raw: unknown) => readyResolve(FromActor.parse(raw).output));
  const done = (async (): Promise<ActorDone> => {
    try {
      let raw: unknown;
      try {
        raw = await pool.run({ ...body, type: 'actor.start', port: port2 }, { transferList: [port2] as never, signal: terminate.signal });
      } catch (err) {
        if (terminate.signal.aborted) throw new AbortError(`${body.step}: cancelled (the actor was terminated)`);
        throw err;
      }
      const r = ActorResult.parse(raw);
      for (const w of r.warnings) onWarning?.(w);
      if (r.type === 'actor.failed') throw fromWireError(r.error);
      return r;
    } catch (err) {
      readyReject(err);
      throw err;
    } finally {
      ended = true;
      readyReject(new AbortError(`${body.step}: the actor ended`));
      port1.close();
    }
  })();
  done.catch(() => {}); // awaited by the owner
  let graceTimer: NodeJS.Timeout | undefined;
  void done.finally(() => clearTimeout(graceTimer)).catch(() => {});
  return {
    id: body.actorId,
    ready,
    done,
    send(m) {
      if (!ended) port1.postMessage({ ...m, ...ids });
    },
    cancel(graceMs = 3000) {
      if (ended) return;
      port1.postMessage({ type: 'actor.cancel', ...ids } satisfies ToActor);
      graceTimer ??= setTimeout(() => terminate.abort(), graceMs);
    },
  };
}
