// stdout and stderr for a CLI whose reader may go away: `v2v ... |
// head -1`, a supervisor that dies, a dropped SSH session (EIO on the
// terminal). A write to a closed stream fails with EPIPE (Node ignores
// SIGPIPE) and the stream emits 'error', which, unhandled, would end the
// process with a stack trace and no cleanup. Here the first error on a stream
// marks it closed, nothing more is written to it, and `onClosed` is told
// (the CLI cancels the job, which then cleans up as for Ctrl-C).

export type StreamName = 'stdout' | 'stderr';

export interface Stdio {
  out(text: string): void;
  err(text: string): void;
  /** Stop listening (the streams stay as they are). */
  dispose(): void;
}

export function guardStdio(onClosed: (stream: StreamName, err: NodeJS.ErrnoException) => void): Stdio {
  const closed: Record<StreamName, boolean> = { stdout: false, stderr: false };
  const listeners = (['stdout', 'stderr'] as const).map((name) => {
    const fn = (err: NodeJS.ErrnoException) => {
      if (closed[name]) return;
      closed[name] = true;
      onClosed(name, err);
    };
    process[name].on('error', fn);
    return [name, fn] as const;
  });
  const write = (name: StreamName, text: string) => {
    const s = process[name];
    if (closed[name] || s.destroyed || s.writableEnded) return;
    try {
      // The callback takes the error too, so it is never also thrown at the caller.
      s.write(text, () => {});
    } catch {
      closed[name] = true;
    }
  };
  return {
    out: (t) => write('stdout', t),
    err: (t) => write('stderr', t),
    dispose: () => {
      for (const [name, fn] of listeners) process[name].off('error', fn);
      swallowLateErrors();
    },
  };
}

let swallowing = false;
/** After the command: a write error that arrives late is not a crash either (once per process). */
function swallowLateErrors(): void {
  if (swallowing) return;
  swallowing = true;
  for (const name of ['stdout', 'stderr'] as const) process[name].on('error', () => {});
}
