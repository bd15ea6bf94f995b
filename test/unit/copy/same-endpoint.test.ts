import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../../src/copy/endpoint.js';
import { checkNotSame, nbdAddress } from '../../../src/copy/same-endpoint.js';

const same = (a: string, b: string) => checkNotSame(parseEndpoint(a, 'source'), parseEndpoint(b, 'target'));

describe('nbdAddress', () => {
  it('reads the server and the export name as libnbd does', () => {
    expect(nbdAddress('nbd+unix:///?socket=/run/s.sock')).toEqual({ transport: 'unix', server: '/run/s.sock', port: '', exportName: '' });
    expect(nbdAddress('nbds+unix:///my%20disk?socket=/run/./s.sock')).toMatchObject({ server: '/run/s.sock', exportName: 'my disk' });
    expect(nbdAddress('nbd://Host.example')).toEqual({ transport: 'tcp', server: 'host.example', port: '10809', exportName: '' });
    expect(nbdAddress('nbd://host:10810/sda')).toEqual({ transport: 'tcp', server: 'host', port: '10810', exportName: 'sda' });
    expect(nbdAddress('nbd+vsock://2:10809/x')).toMatchObject({ transport: 'vsock', server: '2', exportName: 'x' });
    expect(nbdAddress('nbd+unix:///x')).toBeUndefined();
    expect(nbdAddress('nbd://[::1')).toBeUndefined();
  });
});

describe('checkNotSame on NBD URIs', () => {
  it('refuses the same host, port and export, however written', async () => {
    await expect(same('nbd://host/x', 'nbd://host/x')).rejects.toThrow(/^source and target are the same NBD export \(nbd:\/\/host\/x\)$/);
    await expect(same('nbd://HOST:10809/x', 'nbds://host/x')).rejects.toThrow(/same NBD export \(nbd:\/\/HOST:10809\/x and nbds:\/\/host\/x\)/);
    await expect(same('nbd+unix:///e?socket=/nonexistent/s', 'nbd+unix:///e?socket=/nonexistent/../nonexistent/s')).rejects.toThrow(
      /same NBD export/,
    );
  });

  it('accepts another export, port, host or socket', async () => {
    await expect(same('nbd://host/x', 'nbd://host/y')).resolves.toBeUndefined();
    await expect(same('nbd://host/x', 'nbd://host:10810/x')).resolves.toBeUndefined();
    await expect(same('nbd://host/x', 'nbd://other/x')).resolves.toBeUndefined();
    await expect(same('nbd+unix:///?socket=/nonexistent/a', 'nbd+unix:///?socket=/nonexistent/b')).resolves.toBeUndefined();
    await expect(same('nbd+unix:///?socket=/nonexistent/a', 'nbd://localhost/')).resolves.toBeUndefined();
  });

  it('gives the InputError code (exit status 1 in the CLI)', async () => {
    await expect(same('nbd://h/x', 'nbd://h/x')).rejects.toMatchObject({ code: 'INPUT_ERROR' });
  });
});
