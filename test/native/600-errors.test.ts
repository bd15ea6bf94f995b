// Errors (libnbd python/t/6xx, nbdkit tests/test-error*.sh): libnbd's own
// checks, errors the server sends, our range checks in TypeScript, and errors
// crossing threads as WireErrors with every field intact.
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ConfigError,
  EngineError,
  InputError,
  NbdError,
  ProcessError,
  StateError,
  StepError,
  NbdClosedError,
  isAbortError,
} from '../../src/errors.js';
import { MAX_32BIT_REQUEST, NbdHandle } from '../../src/nbd/handle.js';
import { WireError, fromWireError, toWireError } from '../../src/protocol/wire-error.js';
import { test } from '../helpers/nbd.js';
import { has, rejectionOf, thrownBy } from '../helpers/tools.js';
import { fixtureWorker, nextMessage } from '../helpers/worker.js';

const MiB = 1024 * 1024;
const ERROR_PREAD = ['--filter=error', 'memory', '1M', 'error-pread=EIO', 'error-pread-rate=1'];

/** Send a WireError through a real MessageChannel (structured clone) and validate it. */
async function trip(w: WireError): Promise<WireError> {
  const { port1, port2 } = new MessageChannel();
  try {
    const got = new Promise<unknown>((resolve) => port2.once('message', resolve));
    port1.postMessage(w);
    return WireError.parse(await got);
  } finally {
    port1.close();
    port2.close();
  }
}

describe.skipIf(!has('nbdkit'))('600 errors from libnbd and the server', () => {
  test('pread beyond the end: EINVAL from libnbd, before anything is sent', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    const h = open('bounds');
    await h.connect({ uri: srv.uri });
    const err = await rejectionOf(h.pread(new Uint8Array(4096), MiB - 2048));
    expect(err).toBeInstanceOf(NbdError);
    expect(err.name).toBe('NbdError');
    expect(err.op).toBe('nbd_aio_pread');
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(22);
    expect(err.offset).toBe(MiB - 2048);
    expect(err.message.startsWith('nbd_aio_pread: ')).toBe(true);
    expect(err.message).toContain(`offset ${MiB - 2048}`);
    expect(err.detail).toMatch(/out of bounds/);
    expect(h.inFlight).toBe(0);
    // The handle is still usable.
    const b = new Uint8Array(2048);
    await h.pread(b, MiB - 2048);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  test('a write to a read-only export is refused by libnbd with EPERM', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['-r', 'memory', '1M']);
    const h = open('ro');
    await h.connect({ uri: srv.uri });
    const err = await rejectionOf(h.pwrite(new Uint8Array(512), 0));
    expect(err).toMatchObject({ name: 'NbdError', op: 'nbd_aio_pwrite', code: 'EPERM', offset: 0 });
  });

  test('a server error (nbdkit error filter) is EIO with errno 5', async ({ nbdkit, open }) => {
    const srv = await nbdkit(ERROR_PREAD);
    const h = open('eio');
    await h.connect({ uri: srv.uri });
    const err = await rejectionOf(h.pread(new Uint8Array(512), 8192));
    expect(err).toBeInstanceOf(NbdError);
    expect(err.op).toBe('nbd_aio_pread');
    expect(err.code).toBe('EIO');
    expect(err.errno).toBe(5);
    expect(err.offset).toBe(8192);
    expect(err.message.startsWith('nbd_aio_pread: offset 8192: ')).toBe(true);
    // A failed command does not break the connection: other commands work.
    expect(h.inFlight).toBe(0);
    await h.pwrite(Buffer.alloc(512, 7), 0);
    await h.flush();
    const again = await Promise.allSettled([h.pread(new Uint8Array(512), 0), h.pread(new Uint8Array(512), 512)]);
    expect(again.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(again.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['EIO', 'EIO']);
  });

  test('a server that dies mid-request: in-flight commands reject, later ones too', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['--filter=delay', 'memory', '1M', 'delay-read=10']);
    const h = open('dies');
    await h.connect({ uri: srv.uri });
    const reads = [h.pread(new Uint8Array(512), 0), h.pread(new Uint8Array(512), 4096)];
    expect(h.inFlight).toBe(2);
    const t0 = Date.now();
    process.kill(srv.pid, 'SIGKILL');
    const results = await Promise.allSettled(reads);
    expect(Date.now() - t0).toBeLessThan(5000);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as NbdError;
      expect(err).toBeInstanceOf(NbdError);
      expect(err.op).toBe('nbd_aio_pread');
      expect(err.offset).toBe(i * 4096);
      // libnbd retires commands of a dead connection with ENOTCONN.
      expect(['ENOTCONN', 'ECONNRESET', 'EPIPE']).toContain(err.code);
    }
    expect(h.inFlight).toBe(0);
    const later = await rejectionOf(h.pread(new Uint8Array(512), 0));
    expect(later).toBeInstanceOf(NbdError);
    expect(later.op).toBe('nbd_aio_pread');
    expect(later.detail).toMatch(/invalid state: (DEAD|CLOSED)/);
  });

  test('counts above 4 GiB - 1 throw RangeError before reaching native code', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    const h = open('range');
    await h.connect({ uri: srv.uri });
    for (const bad of [MAX_32BIT_REQUEST + 1, 2 ** 40, -1, 1.5, Number.NaN]) {
      const err = thrownBy(() => h.zero(bad, 0));
      expect(err, String(bad)).toBeInstanceOf(RangeError);
      expect(err.message).toMatch(/^zero: count must be an integer from 0 to 4 GiB - 1/);
      expect(thrownBy(() => h.trim(bad, 0))).toBeInstanceOf(RangeError);
      await expect(h.blockStatus(bad, 0)).rejects.toThrow(RangeError);
    }
    expect(h.inFlight).toBe(0);
    // Proof that native code is not reached: on a closed handle the native
    // side would say ERR_NBD_CLOSED; the range check speaks first.
    const closed = new NbdHandle('closed');
    closed.close();
    const err = thrownBy(() => closed.zero(MAX_32BIT_REQUEST + 1, 0));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBeUndefined();
    expect((await rejectionOf(closed.zero(MAX_32BIT_REQUEST, 0))).code).toBe('ERR_NBD_CLOSED');
  });

  test('a native NbdError survives a worker_threads trip', async () => {
    const worker = fixtureWorker('nbd-error-worker', { argv: ['nbdkit', '-s', '--exit-with-parent', ...ERROR_PREAD] });
    const msg = await nextMessage<{ error?: unknown }>(worker);
    const wire = WireError.parse(msg.error);
    const err = fromWireError(wire) as NbdError;
    expect(err).toBeInstanceOf(NbdError);
    expect(err.name).toBe('NbdError');
    expect(err.code).toBe('EIO');
    expect(err.op).toBe('nbd_aio_pread');
    expect(err.errno).toBe(5);
    expect(err.offset).toBe(4096);
    expect(err.endpoint).toBeUndefined();
    expect(err.message).toBe(wire.message);
    expect(err.message.startsWith('nbd_aio_pread: offset 4096: ')).toBe(true);
    expect(err.stack).toBe(wire.stack);
  });
});

describe('600 errors across threads (WireError)', () => {
  it('postMessage alone loses the class and its fields', async () => {
    const e = new NbdError('Input/output error', { op: 'nbd_aio_pread', errno: 5, offset: 512 });
    const { port1, port2 } = new MessageChannel();
    const got = new Promise<Error & { op?: string }>((resolve) => port2.once('message', resolve));
    port1.postMessage(e);
    const raw = await got;
    port1.close();
    port2.close();
    expect(raw).not.toBeInstanceOf(NbdError);
    expect(raw.op).toBeUndefined();
    // Through the wire format everything comes back.
    const back = fromWireError(await trip(toWireError(e))) as NbdError;
    expect(back).toBeInstanceOf(NbdError);
    expect(back.op).toBe('nbd_aio_pread');
  });

  it('NbdError keeps name, code, op, errno, endpoint, offset, detail, step, disk', async () => {
    const e = new NbdError('Input/output error', {
      op: 'nbd_aio_pwrite',
      errno: 5,
      endpoint: 'target nbd+unix:///?socket=/tmp/t.sock',
      offset: 2 ** 40 + 512,
    });
    e.step = 'copy';
    e.disk = 'sda';
    const back = fromWireError(await trip(toWireError(e))) as NbdError;
    expect(back).toBeInstanceOf(NbdError);
    expect(back).toBeInstanceOf(EngineError);
    expect(back.name).toBe('NbdError');
    expect(back.code).toBe('EIO');
    expect(back.op).toBe('nbd_aio_pwrite');
    expect(back.errno).toBe(5);
    expect(back.endpoint).toBe('target nbd+unix:///?socket=/tmp/t.sock');
    expect(back.offset).toBe(2 ** 40 + 512);
    expect(back.detail).toBe('Input/output error');
    expect(back.message).toBe(e.message);
    expect(back.message).toBe(
      'nbd_aio_pwrite: target nbd+unix:///?socket=/tmp/t.sock: offset 1099511628288: Input/output error',
    );
    expect(back.step).toBe('copy');
    expect(back.disk).toBe('sda');
    expect(back.stack).toBe(e.stack);
  });

  // Known bug in src/errors.ts: errnoName() only knows the 79 names in
  // os.constants.errno, so ESHUTDOWN (what close() gives pending requests, and
  // NBD_ESHUTDOWN from a server) becomes "E108". util.getSystemErrorName(-n)
  // knows them all. When errnoName is fixed, this test fails: drop .fails.
  it('NbdError names every errno libnbd can give (ESHUTDOWN)', () => {
    const e = new NbdError('the handle was closed', { op: 'nbd_aio_pread', errno: 108 });
    expect(e.code).toBe('ESHUTDOWN');
  });

  it('an NbdError without errno has code NBD_ERROR and no optional fields', async () => {
    const e = new NbdError('server said no', { op: 'nbd_aio_block_status', errno: 0 });
    const back = fromWireError(await trip(toWireError(e))) as NbdError;
    expect(back.code).toBe('NBD_ERROR');
    expect(back.errno).toBe(0);
    expect(back.endpoint).toBeUndefined();
    expect(back.offset).toBeUndefined();
    expect(back.message).toBe('nbd_aio_block_status: server said no');
  });

  it('ProcessError keeps command, exitCode and stderrTail', async () => {
    const e = new ProcessError('nbdkit exited (status 1) before it was ready', {
      command: 'nbdkit --foreground memory 1M',
      exitCode: 1,
      stderrTail: 'nbdkit: error: bad size',
    });
    e.step = 'input';
    const back = fromWireError(await trip(toWireError(e))) as ProcessError;
    expect(back).toBeInstanceOf(ProcessError);
    expect(back).toMatchObject({
      name: 'ProcessError',
      code: 'PROCESS_ERROR',
      message: e.message,
      command: 'nbdkit --foreground memory 1M',
      exitCode: 1,
      stderrTail: 'nbdkit: error: bad size',
      step: 'input',
    });
  });

  it.each([
    ['ConfigError', () => new ConfigError('connections: expected 1..64, got 0'), ConfigError, 'CONFIG_ERROR'],
    ['InputError', () => new InputError('no such file: /nope.img'), InputError, 'INPUT_ERROR'],
    ['StateError', () => new StateError('copy.start while copying'), StateError, 'STATE_ERROR'],
    ['AbortError', () => new AbortError(), AbortError, 'ABORT_ERR'],
    ['EngineError', () => new EngineError('NO_OS', 'no operating system'), EngineError, 'NO_OS'],
    ['NbdClosedError', () => new NbdClosedError('nbd_pread: the handle is closed'), NbdClosedError, 'ERR_NBD_CLOSED'],
    ['StepError', () => new StepError({ step: 'convert' }, new InputError('convert: no disk')), StepError, 'INPUT_ERROR'],
  ] as const)('%s keeps name, code, message, step and disk', async (name, make, cls, code) => {
    // A code that is not in the table becomes UNKNOWN_ERROR: codes stay typed.
    expect(new EngineError('SOMETHING', 'x').code).toBe('UNKNOWN_ERROR');
    const e = make();
    e.step = 'convert';
    e.disk = 'vdb';
    const back = fromWireError(await trip(toWireError(e))) as EngineError;
    expect(back).toBeInstanceOf(cls);
    expect(back.name).toBe(name);
    expect(back.code).toBe(code);
    expect(back.message).toBe(e.message);
    expect(back.step).toBe('convert');
    expect(back.disk).toBe('vdb');
    expect(back.stack).toBe(e.stack);
    expect(isAbortError(back)).toBe(name === 'AbortError');
  });

  it('a cause chain comes back, classes and fields included', async () => {
    const inner = new NbdError('Connection reset by peer', { op: 'nbd_aio_pread', errno: 104, offset: 0 });
    const e = new ConfigError('cannot use source', { cause: new InputError('bad source', { cause: inner }) });
    const back = fromWireError(await trip(toWireError(e)));
    expect(back).toBeInstanceOf(ConfigError);
    const mid = back.cause as InputError;
    expect(mid).toBeInstanceOf(InputError);
    expect(mid.message).toBe('bad source');
    const deep = mid.cause as NbdError;
    expect(deep).toBeInstanceOf(NbdError);
    expect(deep).toMatchObject({ code: 'ECONNRESET', op: 'nbd_aio_pread', errno: 104, offset: 0 });
  });

  it('foreign errors keep their name; non-errors become UNKNOWN_ERROR', async () => {
    const zod = new Error('expected string');
    zod.name = 'ZodError';
    const back = fromWireError(await trip(toWireError(zod))) as EngineError;
    expect(back.name).toBe('ZodError');
    expect(back.code).toBe('UNKNOWN_ERROR');
    expect(back.message).toBe('expected string');
    const s = fromWireError(await trip(toWireError('just a string'))) as EngineError;
    expect(s.code).toBe('UNKNOWN_ERROR');
    expect(s.message).toBe('just a string');
  });
});
