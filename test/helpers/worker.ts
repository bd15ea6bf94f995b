// Worker threads running a .ts fixture from test/fixtures, with tsx loaded by
// execArgv ['--import', 'tsx']. Node 20 applies tsx's require hook in workers
// but not its ESM hooks, so a CommonJS entry require()s the fixture: fixtures
// must not use top-level await. Terminated when the test finishes.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { onTestFinished } from 'vitest';

export function fixtureWorker(name: string, data: Record<string, unknown>): Worker {
  const fixture = fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url));
  const worker = new Worker(new URL('../fixtures/ts-worker.cjs', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    workerData: { ...data, fixture },
  });
  onTestFinished(async () => {
    await worker.terminate();
  });
  return worker;
}

/** The worker's next message; rejects if it fails or exits first. */
export function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: T) => {
      cleanup();
      resolve(m);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the worker exited (code ${code}) before posting a message`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
