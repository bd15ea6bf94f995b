// How `v2v batch` shows a batch: one line per event, prefixed with the
// guest's id (`[g1] [   2.1] Setting up the source: ...`), or with
// --machine-readable one JSON object a line; and the summary table at the end.
import type { BatchEvent } from '../batch/events.js';
import type { BatchResult } from '../batch/run.js';
import { humanSize } from '../util/size.js';

/** The human line for an event, or undefined for events not shown (most progress). */
export function eventLine(e: BatchEvent, progress: Map<string, number>): string | undefined {
  const g = 'guest' in e ? `[${e.guest}] ` : '';
  switch (e.type) {
    case 'batch.started': {
      const l = e.limits;
      const extra = [l.copiesPerHost ? `${l.copiesPerHost} per host` : '', l.bandwidth ? `${humanSize(l.bandwidth)}/s in all` : ''].filter(Boolean);
      const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
      const atOnce = [n(l.guests, 'guest', 'guests'), n(l.conversions, 'conversion', 'conversions'), n(l.copies, 'copy', 'copies')].join(', ');
      return `batch: ${n(e.guests, 'guest', 'guests')}; at once: ${atOnce}${extra.length ? ` (${extra.join(', ')})` : ''}`;
    }
    case 'batch.finished':
      return undefined; // the summary says it
    case 'guest.started':
      return `${g}started`;
    case 'guest.finished':
      return `${g}finished in ${e.seconds.toFixed(1)} s (${humanSize(e.bytes)} written)`;
    case 'guest.failed':
      return `${g}${e.cancelled ? 'cancelled' : `failed: ${e.error}${e.log ? ` (log: ${e.log})` : ''}`}`;
    case 'slot.waiting': {
      const who = e.holders.length ? ` (held by ${e.holders.join(', ')})` : '';
      return e.slot === 'convert' ? `${g}waiting for a conversion slot${who}` : `${g}${e.disk}: waiting for a copy slot (host ${e.host})${who}`;
    }
    case 'slot.granted':
      if (e.slot === 'copy' && e.rateLimit !== undefined) return `${g}${e.disk}: copy at most ${humanSize(e.rateLimit)}/s`;
      return undefined;
    case 'step.started':
      return e.step === 'cleanup' ? undefined : `${g}[${e.elapsed.toFixed(1).padStart(6)}] ${e.message}`;
    case 'copy.started':
      progress.set(`${e.guest}/${e.disk}`, 0);
      return `${g}${e.disk}: copying ${humanSize(e.total)}`;
    case 'copy.progress': {
      // A line at each quarter: bars for many guests at once would not fit a terminal.
      const key = `${e.guest}/${e.disk}`;
      const quarter = e.total > 0 ? Math.floor((e.done * 4) / e.total) : 4;
      if (quarter <= (progress.get(key) ?? 0) || quarter >= 4) return undefined;
      progress.set(key, quarter);
      return `${g}${e.disk}: ${quarter * 25} %`;
    }
    case 'copy.finished':
      return `${g}${e.disk}: copied`;
    case 'warning':
      return `${g}v2v: warning: ${e.message}`;
    case 'error':
      return `${g}error: ${e.message}`;
    default:
      return undefined;
  }
}

/** The table at the end: guest, result, time, bytes written. */
export function summaryTable(r: BatchResult): string {
  const rows = [
    ['guest', 'result', 'time', 'bytes'],
    ...r.guests.map((g) => [g.id, g.ok ? 'ok' : g.cancelled ? 'cancelled' : 'failed', `${g.seconds.toFixed(1)} s`, humanSize(g.bytes)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${rows.map(line).join('\n')}\nbatch: ${r.guests.length - r.failed.length} of ${r.guests.length} guests converted in ${r.seconds.toFixed(1)} s\n`;
}
