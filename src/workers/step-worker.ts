// The step actors (protocol/step-messages.ts): input (one per overlay),
// convert, output. Each is one piscina task on its own thread, and owns the
// processes it starts: nbdkit's --exit-with-parent ties a server to the
// thread that started it, so an actor keeps its thread until its servers are
// stopped. Every task ends with a StepDone or StepFailed, never a throw.
import { threadId, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { AbortError } from '../errors.js';
import { actorLogger, createLogger } from '../log/logger.js';
import type { MetadataOut } from '../metadata/schema.js';
import {
  InputServe,
  StepTask,
  ToStepActor,
  stepFailed,
  type FromStepActor,
  type StepDone,
  type StepFailed,
  type ToStepActor as ToStepActorMsg,
} from '../protocol/step-messages.js';
import { unconvertedMetadata } from '../metadata/schema.js';
import { convertGuest } from '../steps/convert/convert.js';
import { serveSource } from '../steps/input/serve.js';
import { outputAbort, outputFinalize, outputSetup, type OutputOptions } from '../steps/output/output.js';
import { openWorkDir, writeJson } from '../workdir/workdir.js';

type InputServeTask = z.output<typeof InputServe>;


interface Inbox {
  next: () => Promise<ToStepActorMsg>;
  cancelled: AbortSignal;
}

/** The coordinator's messages on PORT, one at a time. */
function inbox(port: MessagePort, log: Logger): Inbox {
  const queue: ToStepActorMsg[] = [];
  const waiting: ((m: ToStepActorMsg) => void)[] = [];
  const cancel = new AbortController();
  port.on('message', (raw: unknown) => {
    const m = ToStepActor.safeParse(raw);
    if (!m.success) {
      log.warn({ message: raw }, 'ignored a malformed message');
      return;
    }
    if (m.data.type === 'step.cancel') cancel.abort();
    const w = waiting.shift();
    if (w) w(m.data);
    else queue.push(m.data);
  });
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))),
    cancelled: cancel.signal,
  };
}

function post(port: MessagePort, m: FromStepActor): void {
  port.postMessage(m);
}

/** The input actor: its disk made ready (steps/input/serve.ts), reported, served until told to stop. */
async function serveInput(task: InputServeTask, log: Logger, box: Inbox): Promise<void> {
  const { server, fronts, disk } = await serveSource(task, { workdir: openWorkDir(task.workdir), log, signal: box.cancelled });
  try {
    post(task.port, { type: 'input.ready', disk, pid: server.pid, command: server.command });
    await box.next(); // finish or cancel: either way the overlay goes
  } finally {
    await server.stop();
    await Promise.all(fronts.map((f) => f.stop()));
  }
  log.info('overlay stopped');
}

export default async function stepTask(raw: unknown): Promise<StepDone | StepFailed> {
  let jobId = 'unknown';
  let log: Logger | undefined;
  let port: MessagePort | undefined;
  try {
    const task = StepTask.parse(raw);
    jobId = task.jobId;
    port = task.port;
    const workdir = openWorkDir(task.workdir);
    const actor = task.type === 'input.serve' ? 'input' : task.type === 'convert.run' ? 'convert' : 'output';
    const disk = task.type === 'input.serve' ? `in${task.index}` : undefined;
    log = actorLogger(createLogger(task.log), { actor, step: actor, ...(disk ? { disk } : {}), jobId }).child({ thread: threadId });
    const box = inbox(task.port, log);

    switch (task.type) {
      case 'input.serve':
        await serveInput(task, log, box);
        return { type: 'step.done', jobId };
      case 'convert.run': {
        let out: MetadataOut;
        const warnings: string[] = [];
        if (task.noConvert) {
          // --no-convert: the guest is already at home on KVM.
          out = unconvertedMetadata(task.metadata, task.name);
          await writeJson(workdir.metadataOut, out);
          log.info({ metadataOut: out }, 'metadata.out written');
        } else {
          out = await convertGuest({
            workdir,
            metadata: task.metadata,
            name: task.name,
            log,
            signal: box.cancelled,
            onWarning: (message) => warnings.push(message),
          });
        }
        if (box.cancelled.aborted) throw new AbortError('convert: cancelled');
        return { type: 'step.done', jobId, metadataOut: out, warnings };
      }
      case 'output.run': {
        const o: OutputOptions = { ...task.options };
        const l = log;
        const onCancel = () => void outputAbort(o, undefined, l);
        box.cancelled.addEventListener('abort', onCancel, { once: true });
        // A cancel during setup: outputAbort finds it by its options.
        const setup = await outputSetup(task.metadata, o, workdir, log).finally(() =>
          box.cancelled.removeEventListener('abort', onCancel),
        );
        post(task.port, { type: 'output.ready', targets: setup.targets });
        const m = await box.next();
        if (m.type === 'step.cancel' || box.cancelled.aborted) {
          await outputAbort(o, setup, log);
          throw new AbortError('output: cancelled');
        }
        const files = await outputFinalize(task.metadata, o, setup, log);
        return { type: 'step.done', jobId, files };
      }
      default:
        throw new Error(`unknown step task ${(task as { type: string }).type}`);
    }
  } catch (err) {
    log?.error({ err }, 'step failed');
    return stepFailed(jobId, err);
  } finally {
    port?.close();
  }
}
