// -it ssh without a server: ssh:// URIs parsed and written back, and the
// nbdkit ssh plugin's arguments (host key checking never turned off, the
// password only ever as a file, ~/.ssh following $HOME).
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSshUri, sshPluginArgs, sshUri } from '../../../src/steps/input/ssh.js';

describe('ssh:// URIs', () => {
  it('user, host, port and a percent-encoded path; written back as given', () => {
    const uri = 'ssh://root@esxi.example.com:2222/vmfs/volumes/datastore1/my%20guest/my%20guest.vmx';
    const loc = parseSshUri(uri);
    expect(loc).toEqual({ user: 'root', host: 'esxi.example.com', port: 2222, path: '/vmfs/volumes/datastore1/my guest/my guest.vmx' });
    expect(sshUri(loc)).toBe(uri);
    expect(sshUri({ ...loc, path: '/a/b#c?d.vmdk' })).toBe('ssh://root@esxi.example.com:2222/a/b%23c%3Fd.vmdk');
  });

  it('no user, no port; an IPv6 address', () => {
    expect(parseSshUri('ssh://host/g.vmx')).toEqual({ host: 'host', path: '/g.vmx' });
    const v6 = parseSshUri('ssh://u@[::1]:22/g.vmx');
    expect(v6).toEqual({ user: 'u', host: '::1', port: 22, path: '/g.vmx' });
    expect(sshUri(v6)).toBe('ssh://u@[::1]:22/g.vmx');
  });

  it('refused with one line: not ssh, no file, a query, a control character; a password never repeated', () => {
    for (const [uri, why] of [
      ['http://h/g.vmx', /not an ssh:\/\/ URI/],
      ['ssh://h/', /no file name/],
      ['ssh://h/dir/', /no file name/],
      ['ssh://h/g.vmx?x=1', /query or fragment/],
      ['ssh://h/g%0A.vmx', /control character/],
      ['not a uri', /not a URI/],
    ] as const) {
      const err = (() => {
        try {
          parseSshUri(uri);
        } catch (e) {
          return e as Error & { code: string };
        }
        throw new Error(`${uri} accepted`);
      })();
      expect(err.code).toBe('CONFIG_ERROR');
      expect(err.message).toMatch(why);
      expect(err.message).not.toContain('\n');
    }
    expect(() => parseSshUri('ssh://root:hunter2@h/g.vmx')).toThrow(/^-it ssh: a password in the URI is not allowed[^]*$/);
    try {
      parseSshUri('ssh://root:hunter2@h/g.vmx');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });
});

describe('nbdkit ssh plugin arguments', () => {
  it('the password as +FILE only; host keys checked; known_hosts and keys from $HOME/.ssh', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'v2v-ssh-home-'));
    try {
      await mkdir(path.join(home, '.ssh'));
      await writeFile(path.join(home, '.ssh', 'id_ed25519'), '');
      const args = sshPluginArgs(
        { user: 'root', host: 'h', port: 22, path: '/d/g-flat.vmdk' },
        { passwordFile: 'pw.txt', env: { HOME: home } },
      );
      expect(args).toEqual([
        'ssh',
        'host=h',
        'port=22',
        'user=root',
        'path=/d/g-flat.vmdk',
        `known-hosts=${home}/.ssh/known_hosts`,
        `identity=${home}/.ssh/id_ed25519`,
        `password=+${path.resolve('pw.txt')}`,
      ]);
      expect(args.join(' ')).not.toMatch(/verify-remote-host/);
      // libssh expands %-sequences: a literal % is doubled.
      expect(sshPluginArgs({ host: 'h', path: '/g' }, { env: { HOME: '/x%d' } })).toContain('known-hosts=/x%%d/.ssh/known_hosts');
      // The password database's home is libssh's own default: nothing to add.
      expect(sshPluginArgs({ host: 'h', path: '/g' }, { env: { HOME: os.userInfo().homedir } })).toEqual(['ssh', 'host=h', 'path=/g']);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
