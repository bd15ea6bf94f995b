// Every way to connect (libnbd python/t/110-defaults ... 140-*): URI, Unix
// socket, TCP, a command on stdin/stdout, systemd socket activation; and how a
// failed connect is reported.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect } from 'vitest';
import { NbdError } from '../../src/errors.js';
import { nativeStats, type NbdHandle } from '../../src/nbd/handle.js';
import { test } from '../helpers/nbd.js';
import { freePort, killAtEnd, spawnDaemon, waitForPid } from '../helpers/daemon.js';
import { alive, has, rejectionOf, waitFor } from '../helpers/tools.js';

const MiB = 1024 * 1024;

/** Write random bytes and read them back: the connection really works. */
async function roundTrip(h: NbdHandle, offset = 4096): Promise<void> {
  const data = randomBytes(8192);
  await h.pwrite(data, offset);
  const back = Buffer.alloc(data.length);
  await h.pread(back, offset);
  expect(back.equals(data)).toBe(true);
}

describe.skipIf(!has('nbdkit'))('110 connect', () => {
  test('by NBD URI (nbd+unix)', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    expect(srv.uri).toMatch(/^nbd\+unix:\/\/\/\?socket=/);
    const h = open('uri');
    await h.connect({ uri: srv.uri });
    expect(h.size).toBe(MiB);
    await roundTrip(h);
  });

  test('by Unix socket path', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '2M']);
    const h = open('unix');
    await h.connect({ unix: srv.socket });
    expect(h.size).toBe(2 * MiB);
    await roundTrip(h);
  });

  test('by TCP to 127.0.0.1', async ({ tmp, open }) => {
    // The port can be taken between freePort() and nbdkit's bind: retry.
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const pidfile = path.join(tmp, `tcp${attempt}.pid`);
      const argv = ['nbdkit', '--exit-with-parent', '--foreground', '--pidfile', pidfile];
      try {
        await spawnDaemon([...argv, '-p', String(port), '-i', '127.0.0.1', 'memory', '3M'], pidfile);
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
      }
    }
    const h = open('tcp');
    await h.connect({ tcp: { host: '127.0.0.1', port } });
    expect(h.size).toBe(3 * MiB);
    await roundTrip(h);
    // The same server by URI, port as a string.
    const h2 = open('tcp-uri');
    await h2.connect({ uri: `nbd://127.0.0.1:${port}/` });
    expect(h2.size).toBe(3 * MiB);
  });

  test('by command on stdin/stdout (nbdkit -s)', async ({ tmp, open }) => {
    const pidfile = path.join(tmp, 'cmd.pid');
    const h = open('command');
    await h.connect({ command: ['nbdkit', '-s', '--exit-with-parent', '--pidfile', pidfile, 'memory', '1M'] });
    expect(h.size).toBe(MiB);
    await roundTrip(h);
    const pid = await waitForPid(pidfile);
    killAtEnd(pid);
    expect(alive(pid)).toBe(true);
    // Closing the handle ends (and reaps) the server libnbd started.
    h.close();
    await waitFor(() => !alive(pid), 5000, 'nbdkit -s to exit');
  });

  test('by systemd socket activation', async ({ tmp, open }) => {
    const pidfile = path.join(tmp, 'sa.pid');
    const h = open('systemd');
    await h.connect({ systemdSocketActivation: ['nbdkit', '--pidfile', pidfile, 'memory', '1M'] });
    expect(h.size).toBe(MiB);
    await roundTrip(h);
    const pid = await waitForPid(pidfile);
    killAtEnd(pid);
    expect(alive(pid)).toBe(true);
    // nbdkit does not exit when its client goes: libnbd kills it on close.
    h.close();
    await waitFor(() => !alive(pid), 5000, 'socket-activated nbdkit to exit');
    expect(nativeStats().handles).toBe(0);
  });

  test('a missing Unix socket rejects with ENOENT', async ({ tmp, open }) => {
    const missing = path.join(tmp, 'missing.sock');
    for (const target of [{ unix: missing }, { uri: `nbd+unix:///?socket=${missing}` }]) {
      const h = open('missing');
      const err = await rejectionOf(h.connect(target));
      expect(err).toBeInstanceOf(NbdError);
      expect(err.name).toBe('NbdError');
      expect(err.op).toMatch(/^nbd_aio_connect/);
      expect(err.op).toBe(target.unix ? 'nbd_aio_connect_unix' : 'nbd_aio_connect_uri');
      expect(err.code).toBe('ENOENT');
      expect(err.errno).toBe(2);
      expect(err.message.startsWith(`${err.op as string}: `)).toBe(true);
      expect(err.message).toContain('No such file or directory');
    }
  });

  test('a closed TCP port rejects with ECONNREFUSED', async ({ open }) => {
    const port = await freePort();
    const h = open('refused');
    const err = await rejectionOf(h.connect({ tcp: { host: '127.0.0.1', port } }));
    expect(err).toBeInstanceOf(NbdError);
    expect(err.op).toBe('nbd_aio_connect_tcp');
    expect(err.code).toBe('ECONNREFUSED');
  });

  test('a command that is no NBD server rejects, and the handle closes cleanly', async ({ open }) => {
    const h = open('not-a-server');
    const err = await rejectionOf(h.connect({ command: ['true'] }));
    expect(err).toBeInstanceOf(NbdError);
    expect(err.op).toMatch(/^nbd_aio_connect_command/);
    expect(nativeStats().handles).toBe(1);
    h.close();
    expect(nativeStats().handles).toBe(0);
  });

  test('connect needs a target', async ({ open }) => {
    const h = open('no-target');
    const err = await rejectionOf(h.connect({}));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/^connect: give one of/);
  });
});
