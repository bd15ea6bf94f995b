// The batch's scheduler: one Gate over the batch's limits, handing each
// guest's job its JobSlots (convert, copy), and keeping the global view:
// what every guest is doing, which slots it waits for and holds. Copies
// count against the batch's `copies` and their source host's
// `copiesPerHost`; with a `bandwidth`, a copy gets its share of it when it
// starts: bandwidth divided by the copies in flight, itself included.
// XXX a running copy keeps the share it started with (the native copier's
// rate is fixed for the copy), so copies that start one after another may
// together exceed the bandwidth until the earlier ones end; rebalancing needs
// a way to change a running copy's rate.
import type { JobSlots } from '../supervisor/pipeline.js';
import type { BatchEvent } from './events.js';
import { Gate } from './gate.js';
import type { ResolvedLimits } from './plan.js';

export type GuestState = 'queued' | 'running' | 'waiting-convert' | 'converting' | 'finished' | 'failed';

export interface GuestView {
  id: string;
  state: GuestState;
  /** Its disk copies waiting for a slot or running, with their host and rate. */
  copies: { disk: string; host: string; state: 'waiting' | 'copying'; rateLimit?: number }[];
}

type SlotEvent = Extract<BatchEvent, { type: 'slot.waiting' | 'slot.granted' }>;

/**
 * The host a copy reads from: the URI's host for nbd://, http(s)://,
 * ssh://... sources; "local" for files and Unix sockets.
 */
export function sourceHost(source: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return 'local';
  try {
    const host = new URL(source).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    return host === '' ? 'local' : host;
  } catch {
    return 'local';
  }
}

export class BatchSlots {
  private readonly gate: Gate;
  private readonly guests = new Map<string, GuestView>();

  constructor(
    private readonly limits: ResolvedLimits,
    private readonly onEvent: (e: SlotEvent) => void = () => {},
  ) {
    this.gate = new Gate((key) => {
      if (key === 'guests') return limits.guests;
      if (key === 'conversions') return limits.conversions;
      if (key === 'copies') return limits.copies;
      return limits.copiesPerHost ?? Infinity; // host:NAME
    });
  }

  private view(id: string): GuestView {
    let v = this.guests.get(id);
    if (!v) this.guests.set(id, (v = { id, state: 'queued', copies: [] }));
    return v;
  }

  /** The global view: every guest known so far, in the order they were seen. */
  snapshot(): GuestView[] {
    return [...this.guests.values()].map((v) => ({ ...v, copies: v.copies.map((c) => ({ ...c })) }));
  }

  /** Guests holding a slot of this kind now. */
  private holders(kind: 'convert' | 'copy', host?: string): string[] {
    return [...this.guests.values()]
      .filter((v) => (kind === 'convert' ? v.state === 'converting' : v.copies.some((c) => c.state === 'copying' && (host === undefined || c.host === host))))
      .map((v) => v.id);
  }

  /** Wait for the guest's turn to start at all (limits.guests); release when its job has ended. */
  async guest(id: string, signal: AbortSignal): Promise<() => void> {
    this.view(id);
    const release = await this.gate.acquire(['guests'], signal);
    this.view(id).state = 'running';
    return release;
  }

  /** Record how the guest ended. */
  ended(id: string, ok: boolean): void {
    const v = this.view(id);
    v.state = ok ? 'finished' : 'failed';
    v.copies = [];
  }

  /** The JobSlots that one guest's job takes its slots from. */
  forGuest(id: string): JobSlots {
    return {
      convert: async (signal) => {
        const v = this.view(id);
        const t0 = Date.now();
        v.state = 'waiting-convert';
        try {
          const release = await this.gate.acquire(['conversions'], signal, {
            queued: () => this.onEvent({ type: 'slot.waiting', guest: id, slot: 'convert', holders: this.holders('convert') }),
            granted: () => {
              v.state = 'converting';
              this.onEvent({ type: 'slot.granted', guest: id, slot: 'convert', waited: (Date.now() - t0) / 1000 });
            },
          });
          return () => {
            if (v.state === 'converting') v.state = 'running';
            release();
          };
        } catch (err) {
          v.state = 'running';
          throw err;
        }
      },
      copy: async (d, signal) => {
        const v = this.view(id);
        const host = sourceHost(d.source);
        const t0 = Date.now();
        const entry: GuestView['copies'][number] = { disk: d.disk, host, state: 'waiting' };
        v.copies.push(entry);
        const drop = () => (v.copies = v.copies.filter((c) => c !== entry));
        let release: () => void;
        try {
          release = await this.gate.acquire(['copies', `host:${host}`], signal, {
            queued: () => this.onEvent({ type: 'slot.waiting', guest: id, slot: 'copy', disk: d.disk, host, holders: this.holders('copy') }),
            granted: () => {
              entry.state = 'copying';
              // Its share when it starts: the copies in flight now, this one included.
              if (this.limits.bandwidth) entry.rateLimit = Math.max(1, Math.floor(this.limits.bandwidth / this.gate.count('copies')));
              const rate = entry.rateLimit !== undefined ? { rateLimit: entry.rateLimit } : {};
              this.onEvent({ type: 'slot.granted', guest: id, slot: 'copy', disk: d.disk, host, ...rate, waited: (Date.now() - t0) / 1000 });
            },
          });
        } catch (err) {
          drop();
          throw err;
        }
        return {
          release: () => {
            drop();
            release();
          },
          ...(entry.rateLimit !== undefined ? { rateLimit: entry.rateLimit } : {}),
        };
      },
    };
  }
}
