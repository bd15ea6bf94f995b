// Handle life cycle without I/O (libnbd python/t/100-handle.py): create,
// name, close twice, every call after close fails, the live count.
import { afterEach, describe, expect, it } from 'vitest';
import { NbdError } from '../../src/errors.js';
import { NbdHandle, nativeStats } from '../../src/nbd/handle.js';
import { has, rejectionOf, thrownBy } from '../helpers/tools.js';

afterEach(() => {
  expect(nativeStats().handles, 'a test left a handle open').toBe(0);
});

describe('100 handle', () => {
  it('creates a handle that counts as live until closed', () => {
    const h = new NbdHandle('disk0');
    expect(h.name).toBe('disk0');
    expect(h.inFlight).toBe(0);
    expect(nativeStats().handles).toBe(1);
    const h2 = new NbdHandle();
    expect(h2.name).toBe('nbd');
    expect(nativeStats().handles).toBe(2);
    h.close();
    expect(nativeStats().handles).toBe(1);
    h2.close();
    expect(nativeStats().handles).toBe(0);
  });

  it('takes settings before connecting', () => {
    const h = new NbdHandle('settings', { metaContexts: ['base:allocation'] });
    try {
      expect(() => h.addMetaContext('qemu:dirty-bitmap:b0')).not.toThrow();
      expect(() => h.setExportName('export1')).not.toThrow();
      expect(() => h.setPreadInitialize(false)).not.toThrow();
      // libnbd's own check: the NBD protocol limits strings to 4096 bytes.
      const err = thrownBy(() => h.setExportName('x'.repeat(5000)));
      expect(err).toBeInstanceOf(NbdError);
      expect(err.op).toBe('nbd_set_export_name');
      expect(err.code).toBe('ENAMETOOLONG');
    } finally {
      h.close();
    }
  });

  it('information calls before connecting fail with NbdError from libnbd', () => {
    const h = new NbdHandle('early');
    try {
      const err = thrownBy(() => h.size);
      expect(err.name).toBe('NbdError');
      expect(err.op).toBe('nbd_get_size');
      expect(err.message.startsWith('nbd_get_size: ')).toBe(true);
    } finally {
      h.close();
    }
  });

  it('close() twice is fine', () => {
    const h = new NbdHandle('twice');
    h.close();
    expect(() => h.close()).not.toThrow();
    expect(nativeStats().handles).toBe(0);
  });

  it('every call after close fails with ERR_NBD_CLOSED', async () => {
    const h = new NbdHandle('closed');
    h.close();
    const sync: [string, () => unknown][] = [
      ['nbd_get_size', () => h.size],
      ['nbd_is_read_only', () => h.readOnly],
      ['nbd_can_multi_conn', () => h.canMultiConn()],
      ['nbd_can_zero', () => h.canZero()],
      ['nbd_can_fast_zero', () => h.canFastZero()],
      ['nbd_can_trim', () => h.canTrim()],
      ['nbd_can_flush', () => h.canFlush()],
      ['nbd_can_fua', () => h.canFua()],
      ['nbd_can_meta_context', () => h.canMetaContext('base:allocation')],
      ['nbd_get_block_size', () => h.blockSize('preferred')],
      ['nbd_add_meta_context', () => h.addMetaContext('base:allocation')],
      ['nbd_set_export_name', () => h.setExportName('x')],
      ['nbd_set_pread_initialize', () => h.setPreadInitialize(false)],
    ];
    for (const [op, fn] of sync) {
      const err = thrownBy(fn);
      expect(err.code, op).toBe('ERR_NBD_CLOSED');
      expect(err.message, op).toBe(`${op}: the handle is closed`);
    }
    const buf = new Uint8Array(512);
    const async: [string, () => Promise<unknown>][] = [
      ['nbd_aio_connect_uri', () => h.connect({ uri: 'nbd+unix:///?socket=/nonexistent' })],
      ['nbd_aio_connect_unix', () => h.connect({ unix: '/nonexistent' })],
      ['nbd_aio_connect_tcp', () => h.connect({ tcp: { host: '127.0.0.1', port: 10809 } })],
      ['nbd_aio_connect_command', () => h.connect({ command: ['true'] })],
      ['nbd_aio_connect_systemd_socket_activation', () => h.connect({ systemdSocketActivation: ['true'] })],
      ['nbd_aio_pread', () => h.pread(buf, 0)],
      ['nbd_aio_pwrite', () => h.pwrite(buf, 0)],
      ['nbd_aio_zero', () => h.zero(512, 0)],
      ['nbd_aio_trim', () => h.trim(512, 0)],
      ['nbd_aio_flush', () => h.flush()],
      ['nbd_aio_block_status', () => h.blockStatus(512, 0)],
    ];
    for (const [op, fn] of async) {
      const err = await rejectionOf(fn());
      expect(err.code, op).toBe('ERR_NBD_CLOSED');
      expect(err.message, op).toBe(`${op}: the handle is closed`);
    }
    // Pure accessors stay usable: the name, and nothing in flight.
    expect(h.name).toBe('closed');
    expect(h.inFlight).toBe(0);
    expect(nativeStats().handles).toBe(0);
  });

  it.skipIf(!has('nbdkit'))('a connected handle counts as live until closed', async () => {
    const h = new NbdHandle('connected');
    try {
      await h.connect({ command: ['nbdkit', '-s', '--exit-with-parent', 'memory', '1M'] });
      expect(h.size).toBe(1024 * 1024);
      expect(nativeStats().handles).toBe(1);
    } finally {
      h.close();
    }
    expect(nativeStats().handles).toBe(0);
    expect(thrownBy(() => h.size).code).toBe('ERR_NBD_CLOSED');
  });
});
