// Cleanup (libnbd python/t/700-*, nbdkit tests/test-exit-with-parent.sh):
// a worker terminated mid-request leaves no server behind and terminates
// promptly; a worker that simply ends does the same; closing a handle rejects
// what is in flight.
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { describe, expect } from 'vitest';
import { NbdError } from '../../src/errors.js';
import { nativeStats } from '../../src/nbd/handle.js';
import { killAtEnd, waitForPid } from '../helpers/daemon.js';
import { test } from '../helpers/nbd.js';
import { alive, has, waitFor } from '../helpers/tools.js';
import { fixtureWorker, nextMessage } from '../helpers/worker.js';

/** nbdkit for socket activation: no --exit-with-parent, so only our cleanup can stop it. */
function slowServer(pidfile: string): string[] {
  return ['nbdkit', '--pidfile', pidfile, '--filter=delay', 'memory', '1M', 'delay-read=5'];
}

describe.skipIf(!has('nbdkit'))('700 cleanup', () => {
  test('terminating a worker with a read in flight kills its server, promptly', async ({ tmp }) => {
    const pidfile = path.join(tmp, 'worker.pid');
    const worker = fixtureWorker('nbd-inflight-worker', { argv: slowServer(pidfile), read: true });
    const msg = await nextMessage<{ inFlight: number }>(worker);
    expect(msg.inFlight).toBe(1);
    const pid = await waitForPid(pidfile);
    killAtEnd(pid);
    expect(alive(pid)).toBe(true);

    const t0 = Date.now();
    const code = await worker.terminate();
    const elapsed = Date.now() - t0;
    expect(code).toBe(1);
    expect(elapsed).toBeLessThan(3000);
    // Gone and reaped (a zombie would still answer kill(pid, 0)).
    await waitFor(() => !alive(pid), 3000, `nbdkit ${pid} to exit`);
    // The worker's handle was its own: nothing leaked into this thread.
    expect(nativeStats().handles).toBe(0);
  });

  test('a worker that ends with an idle open handle exits and kills its server', async ({ tmp }) => {
    const pidfile = path.join(tmp, 'idle.pid');
    const worker = fixtureWorker('nbd-inflight-worker', { argv: slowServer(pidfile), read: false });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const msg = await nextMessage<{ inFlight: number }>(worker);
    expect(msg.inFlight).toBe(0);
    const pid = await waitForPid(pidfile);
    killAtEnd(pid);
    // An idle handle does not keep the worker's event loop alive.
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 5000))]);
    expect(code).toBe(0);
    await waitFor(() => !alive(pid), 3000, `nbdkit ${pid} to exit`);
  });

  test('close() with requests in flight rejects them all with NbdError', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['--filter=delay', 'memory', '1M', 'delay-read=5']);
    const h = open('closing');
    await h.connect({ uri: srv.uri });
    const bufs = Array.from({ length: 4 }, () => new Uint8Array(4096));
    const reads = bufs.map((b, i) => h.pread(b, i * 4096));
    const write = h.pwrite(new Uint8Array(4096).fill(1), 65536);
    expect(h.inFlight).toBe(5);
    const t0 = Date.now();
    h.close();
    const results = await Promise.allSettled([...reads, write]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.inFlight).toBe(0);
    expect(nativeStats().handles).toBe(0);
    results.forEach((r, i) => {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as NbdError;
      expect(err).toBeInstanceOf(NbdError);
      expect(err.op).toBe(i < 4 ? 'nbd_aio_pread' : 'nbd_aio_pwrite');
      expect(getSystemErrorName(-err.errno)).toBe('ESHUTDOWN');
      expect(err.offset).toBe(i < 4 ? i * 4096 : 65536);
      expect(err.message).toMatch(/the handle was closed$/);
    });
  });

  test('close() during connect rejects the connect', async ({ tmp, open }) => {
    const pidfile = path.join(tmp, 'connecting.pid');
    const h = open('connecting');
    // Socket activation spawns the server; its handshake cannot finish
    // before close() runs in this same tick.
    const connecting = h.connect({ systemdSocketActivation: ['nbdkit', '--pidfile', pidfile, 'memory', '1M'] });
    h.close();
    const err = await connecting.then(
      () => undefined,
      (e: unknown) => e as NbdError,
    );
    expect(err).toBeInstanceOf(NbdError);
    expect(err!.op).toBe('nbd_aio_connect_systemd_socket_activation');
    expect(getSystemErrorName(-err!.errno)).toBe('ESHUTDOWN');
    expect(nativeStats().handles).toBe(0);
  });
});
