// The logger's file descriptors: one per log file per thread, shared and
// counted, closed with the last logger; log files are private (0600) and
// never opened through a symbolic link.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { actorLogger } from '../../../src/log/config.js';
import { closeLogger, createLogger } from '../../../src/log/logger.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** The fds of this process open on FILE. */
function fdsOn(file: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // the fd readdir itself used, closed by now
    }
  });
}

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logger', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'v2v-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('50 createLogger + closeLogger cycles leave the open fd count where it was', () => {
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      const file = path.join(dir, `job${i % 5}.log`);
      const log = actorLogger(createLogger({ level: 'info', file }), { actor: 'copy', step: 'copy', disk: 'sda' });
      log.info({ i }, 'hello');
      closeLogger(log);
    }
    expect(openFds()).toBe(before);
    expect(lines(path.join(dir, 'job0.log'))).toHaveLength(10);
    expect(lines(path.join(dir, 'job0.log'))[0]).toMatchObject({ msg: 'hello', i: 0, actor: 'copy', disk: 'sda' });
  });

  test('two loggers on one file share one fd, closed with the last of them', () => {
    const file = path.join(dir, 'shared.log');
    const before = openFds();
    const a = createLogger({ level: 'info', file });
    // A relative path to the same file is the same key.
    const rel = path.relative(process.cwd(), file);
    const b = createLogger({ level: 'debug', file: rel });
    expect(openFds()).toBe(before + 1);
    expect(fdsOn(file)).toHaveLength(1);
    a.info('from a');
    b.debug('from b');
    closeLogger(a);
    closeLogger(a); // idempotent: b keeps its reference
    expect(fdsOn(file)).toHaveLength(1);
    b.info('b still writes');
    a.info('a is closed: dropped');
    closeLogger(b);
    expect(fdsOn(file)).toHaveLength(0);
    expect(openFds()).toBe(before);
    expect(lines(file).map((l) => l.msg)).toEqual(['from a', 'from b', 'b still writes']);
  });

  test('closing a child gives back its root reference, once', () => {
    const file = path.join(dir, 'child.log');
    const before = openFds();
    const root = createLogger({ level: 'info', file });
    const child = actorLogger(root, { actor: 'convert', step: 'convert' });
    closeLogger(child);
    closeLogger(root);
    expect(openFds()).toBe(before);
  });

  test('an existing log file is appended to', () => {
    const file = path.join(dir, 'old.log');
    writeFileSync(file, '{"msg":"earlier"}\n', { mode: 0o600 });
    const log = createLogger({ level: 'info', file });
    log.info('later');
    closeLogger(log);
    expect(lines(file).map((l) => l.msg)).toEqual(['earlier', 'later']);
  });

  test('a symbolic link at the log path is refused, and its target left alone', () => {
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const link = path.join(dir, 'planted.log');
    symlinkSync(victim, link);
    const before = openFds();
    let err: Error | undefined;
    try {
      createLogger({ level: 'info', file: link });
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeDefined();
    expect(err!.message).toContain(link);
    expect(err!.message).toMatch(/symbolic link/);
    expect(err!.message).not.toContain('\n');
    expect(openFds()).toBe(before);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    // A dangling link (the attacker's file to be) is refused too, and not created.
    const dangling = path.join(dir, 'dangling.log');
    symlinkSync(path.join(dir, 'would-be-created'), dangling);
    expect(() => createLogger({ level: 'info', file: dangling })).toThrow(/symbolic link/);
    expect(() => statSync(path.join(dir, 'would-be-created'))).toThrow();
  });

  test('a new log file has mode 0600', () => {
    const file = path.join(dir, 'private.log');
    const old = process.umask(0o022);
    try {
      const log = createLogger({ level: 'info', file });
      log.info('x');
      closeLogger(log);
    } finally {
      process.umask(old);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('a log file removed while open is opened again for new loggers', () => {
    const file = path.join(dir, 'rotated.log');
    const a = createLogger({ level: 'info', file });
    rmSync(file);
    const b = createLogger({ level: 'info', file });
    b.info('to the new file');
    a.info('to the removed file');
    closeLogger(a);
    closeLogger(b);
    expect(lines(file).map((l) => l.msg)).toEqual(['to the new file']);
    expect(fdsOn(file)).toHaveLength(0);
  });

  test('silent and fd loggers hold no fd; closing them is a no-op', () => {
    const before = openFds();
    const s = createLogger({ level: 'silent' });
    const e = createLogger({ level: 'info', fd: 2 });
    closeLogger(s);
    closeLogger(e);
    closeLogger(e);
    expect(openFds()).toBe(before);
  });
});
