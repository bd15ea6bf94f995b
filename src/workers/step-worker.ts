// The step actors: a handler table over the one step contract
// (src/steps/step.ts). Each actor is one piscina task on its own thread that
// runs one step (input: one per disk; convert; output setup, then output
// finalize on what it holds) and owns the processes the step starts:
// nbdkit's --exit-with-parent ties a server to the thread that started it,
// so an actor that holds servers keeps its thread until it lets them go.
// Its messages are handled one at a time, each checked against the actor's
// status in one place (permitted()). Every task ends with ActorDone or
// ActorFailed, never a throw.
import { sayReady } from './ready.js';
import { threadId, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { StateError } from '../errors.js';
import { actorLogger } from '../log/config.js';
import { closeLogger, createLogger } from '../log/logger.js';
import {
  ActorStart,
  PERMITTED,
  ToActor,
  actorFailed,
  type ActorDone,
  type ActorFailed,
  type ActorReady,
  type ActorStatus,
  type FromActor,
} from '../protocol/step-messages.js';
import { convertStep } from '../steps/convert/step.js';
import { inputStep } from '../steps/input/step.js';
import type { OutputSetup } from '../steps/output/output.js';
import { outputFinalizeStep, outputSetupStep } from '../steps/output/step.js';
import type { Step, StepContext } from '../steps/step.js';
import { openWorkDir } from '../workdir/workdir.js';
import { formatZodError } from '../util/zod.js';
import { mailbox } from './mailbox.js';

type Start = ActorStart extends infer T ? (T extends unknown ? Omit<T, 'port'> : never) : never;
type StartOf<K extends Start['step']> = Extract<Start, { step: K }>;

/** What an actor kind does: its step, and what of the step's output crosses back. */
interface Handler<K extends Start['step'], O> {
  /** The step object; `input` is the wire input, already zod-checked. */
  step: Step<StartOf<K>['input'], O>;
  /** Held output: posted as actor.ready; else the output is the task's result. */
  ready?(output: O): ActorReady['output'];
  done?(output: O): ActorDone['output'];
}

const handler = <K extends Start['step'], O>(_kind: K, h: Handler<K, O>) => h as unknown as Handler<Start['step'], unknown>;

/** The handler table: a new actor kind fails to compile until it is here. */
const handlers: { readonly [K in Start['step']]: Handler<Start['step'], unknown> } = {
  input: handler('input', {
    step: inputStep,
    ready: (s) => ({ disk: s.disk, pid: s.server.pid, command: s.server.command }),
  }),
  convert: handler('convert', { step: convertStep, done: (m) => m }),
  'output-setup': handler('output-setup', { step: outputSetupStep, ready: (s: OutputSetup) => ({ targets: s.targets }) }),
};

/** The one place a message is checked against the actor's status (G3). */
function permitted(type: ToActor['type'], status: ActorStatus): void {
  const ok = PERMITTED[type];
  if (!ok.includes(status)) throw new StateError(`${type}: invalid state: ${status}: the actor must be ${ok.join(' or ')}`);
}

export default async function stepTask(raw: unknown): Promise<ActorDone | ActorFailed> {
  const ids = { jobId: 'unknown', actorId: 'unknown' };
  let step: string = 'unknown';
  let root: Logger | undefined;
  let port: MessagePort | undefined;
  const warnings: string[] = [];
  try {
    const parsed = ActorStart.safeParse(raw);
    if (!parsed.success) throw new StateError(`actor.start: ${formatZodError(parsed.error)}`);
    const task = parsed.data;
    Object.assign(ids, { jobId: task.jobId, actorId: task.actorId });
    step = task.step;
    port = task.port;
    root = createLogger(task.log);
    const log = actorLogger(root, { actor: task.actorId, step: task.step, ...(task.disk ? { disk: task.disk } : {}), jobId: task.jobId }).child({ thread: threadId });
    let status: ActorStatus = 'running';
    const box = mailbox(task.port, ToActor, log);
    const ctx: StepContext = { workdir: openWorkDir(task.workdir), log, signal: box.cancelled, warn: (m) => warnings.push(m), detach: false };
    const h = handlers[task.step];
    let held: unknown;
    try {
      held = await h.step.run(ctx, task.input as never);
    } catch (err) {
      await h.step.undo?.(ctx, undefined);
      throw err;
    }
    if (!h.ready) return { type: 'actor.done', ...ids, step: task.step, output: h.done?.(held), warnings };
    status = 'holding';
    task.port.postMessage({ type: 'actor.ready', ...ids, step: task.step, output: h.ready(held) } as FromActor);
    for (;;) {
      const m = await box.next();
      permitted(m.type, status);
      if (m.type === 'actor.cancel') {
        status = 'ending';
        await h.step.undo?.(ctx, held as never);
        throw box.cancelReason();
      }
      if (m.type === 'actor.release') {
        status = 'ending';
        await h.step.release?.(ctx, held as never);
        return { type: 'actor.done', ...ids, step: task.step, warnings };
      }
      // actor.next: output finalize on the setup this actor holds.
      status = 'next';
      step = m.step;
      const setup = held as OutputSetup;
      const files = await outputFinalizeStep.run(ctx, { metadata: m.input.metadata, options: setup.options, setup });
      return { type: 'actor.done', ...ids, step: m.step, output: { files }, warnings };
    }
  } catch (err) {
    root?.error({ err, step }, 'step failed');
    return actorFailed(ids, step, err, warnings);
  } finally {
    port?.close();
    if (root) closeLogger(root);
  }
}

sayReady('step');
