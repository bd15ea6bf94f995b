import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { ProcessError } from '../../../src/errors.js';
import { runProgram } from '../../../src/process/run.js';

const log = pino({ level: 'silent' });

/** runProgram on `sh -c SCRIPT` named NAME; the ProcessError's message. */
async function failure(script: string, name = 'prog'): Promise<string> {
  const err = await runProgram(['sh', '-c', script], { log, what: 'convert', name }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProcessError);
  return (err as ProcessError).message;
}

describe('runProgram: the line that says why a program failed', () => {
  test('its own "NAME: error:" line, not the lines after it', async () => {
    const msg = await failure('echo "prog: error: no root device found" >&2; echo "If reporting bugs, run with -v" >&2; exit 1');
    expect(msg).toBe('convert: prog failed (exit 1): prog: error: no root device found');
  });

  test('its own line found when a helper\'s debug text ran into the start of it (one pipe)', async () => {
    const msg = await failure(
      'printf "nbdkit: nbd.13: debug: sending error reply: Cannot send after transport endpoint shutdown" >&2; ' +
        'echo "prog: error: inspection could not detect the source guest" >&2; ' +
        'echo "nbdkit: nbd.13: debug: sending error reply: Broken pipe" >&2; exit 1',
    );
    expect(msg).toBe('convert: prog failed (exit 1): prog: error: inspection could not detect the source guest');
  });

  test('without its own line: the last error that is not a helper\'s debug line', async () => {
    const msg = await failure(
      'echo "libguestfs: error: appliance closed the connection" >&2; echo "nbdkit: debug: sending error reply: EPIPE" >&2; exit 3',
    );
    expect(msg).toBe('convert: prog failed (exit 3): libguestfs: error: appliance closed the connection');
  });

  test('a signal named; nothing said: no text after the status', async () => {
    expect(await failure('kill -TERM $$')).toBe('convert: prog failed (SIGTERM)');
    expect(await failure('exit 2')).toBe('convert: prog failed (exit 2)');
  });
});
