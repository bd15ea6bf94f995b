// What must go even when the process is about to exit at once (a second
// Ctrl-C, SIGTERM, SIGHUP or SIGQUIT): synchronous undo actions for what this
// process knows it made, run by the CLI just before process.exit(). The
// ordinary cleanup (actors, cleanup step) is asynchronous and is skipped
// then; these are the floor under it: recorded servers killed, partial
// outputs and work dirs removed (src/workdir/job-record.ts), a half-written
// `v2v copy` target removed (src/copy/copy.ts).
//
// Per thread (module state): only the main thread's actions run, which is
// where the work dirs are made and recorded.

const actions = new Map<symbol, () => void>();

/** Register FN; the returned function unregisters it (call it once the thing is undone normally). */
export function atLastResort(fn: () => void): () => void {
  const key = Symbol('last-resort');
  actions.set(key, fn);
  return () => {
    actions.delete(key);
  };
}

/** Run every registered action, newest first; one failing does not stop the others. Never throws. */
export function runLastResort(): void {
  const all = [...actions.values()].reverse();
  actions.clear();
  for (const fn of all) {
    try {
      fn();
    } catch {
      // The process is exiting; nothing better to do with it.
    }
  }
}
