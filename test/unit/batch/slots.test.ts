// The batch's scheduler: limits honoured, FIFO, aborted waiters leave the
// queue (and let the next through), per-host copy limits, the bandwidth
// shared among copies in flight, and the global view.
import { describe, expect, it } from 'vitest';
import { Gate } from '../../../src/batch/gate.js';
import { BatchSlots, sourceHost } from '../../../src/batch/slots.js';
import type { BatchEvent } from '../../../src/batch/events.js';
import { rejectionOf } from '../../helpers/tools.js';

const never = new AbortController().signal;
const tick = () => new Promise((r) => setImmediate(r));
const limits = (l: Partial<{ conversions: number; copies: number; copiesPerHost: number; bandwidth: number; guests: number }>) => ({
  conversions: 1,
  copies: 2,
  guests: 10,
  ...l,
});

/** Start acquiring for each name; `order` records who got through, in order. */
function contenders(acquire: (name: string) => Promise<() => void>, names: string[]) {
  const order: string[] = [];
  const releases = new Map<string, () => void>();
  const done = names.map((n) =>
    acquire(n).then((release) => {
      order.push(n);
      releases.set(n, release);
    }),
  );
  return { order, releases, done };
}

describe('Gate', () => {
  it('lets LIMIT through, then one per release, first come first served', async () => {
    const g = new Gate(() => 2);
    const c = contenders((n) => g.acquire(['k'], never), ['a', 'b', 'c', 'd', 'e']);
    await tick();
    expect(c.order).toEqual(['a', 'b']);
    expect(g.count('k')).toBe(2);
    expect(g.waiting).toBe(3);
    c.releases.get('b')!();
    c.releases.get('b')!(); // twice is once
    await tick();
    expect(c.order).toEqual(['a', 'b', 'c']);
    c.releases.get('a')!();
    c.releases.get('c')!();
    await tick();
    expect(c.order).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(g.count('k')).toBe(2);
  });

  it('an aborted waiter rejects with ABORT_ERR, leaves the queue and lets the next through', async () => {
    const g = new Gate(() => 1);
    const first = await g.acquire(['k'], never);
    const ac = new AbortController();
    const waiting = g.acquire(['k'], ac.signal);
    const queued: string[] = [];
    const next = g.acquire(['k'], never, { queued: () => queued.push('next') });
    expect(queued).toEqual(['next']);
    ac.abort();
    expect((await rejectionOf(waiting)).code).toBe('ABORT_ERR');
    expect(g.waiting).toBe(1);
    first();
    const r = await next;
    expect(g.count('k')).toBe(1);
    r();
    expect(g.count('k')).toBe(0);
    expect((await rejectionOf(g.acquire(['k'], ac.signal))).code).toBe('ABORT_ERR'); // already aborted
  });

  it('one waiter that cannot go does not hold back one that can', async () => {
    const g = new Gate((k) => (k === 'all' ? 3 : 1));
    const x1 = await g.acquire(['all', 'host:x'], never);
    const c = contenders((n) => g.acquire(['all', `host:${n[0]}`], never), ['x2', 'y1', 'x3', 'y2']);
    await tick();
    expect(c.order).toEqual(['y1']); // x2 waits for host x; y2 for host y
    x1();
    await tick();
    expect(c.order).toEqual(['y1', 'x2']); // x2 before x3: first come
    c.releases.get('y1')!();
    await tick();
    expect(c.order).toEqual(['y1', 'x2', 'y2']);
  });
});

describe('BatchSlots', () => {
  it('sourceHost: the URI host, "local" for files and Unix sockets', () => {
    expect(sourceHost('/var/lib/a.img')).toBe('local');
    expect(sourceHost('nbd://127.0.0.1:10809/e')).toBe('127.0.0.1');
    expect(sourceHost('nbd+unix:///e?socket=/tmp/s')).toBe('local');
    expect(sourceHost('https://ESX1.example.com/folder/a-flat.vmdk')).toBe('esx1.example.com');
    expect(sourceHost('ssh://root@esx2:22/vmfs/volumes/ds/a-flat.vmdk')).toBe('esx2');
    expect(sourceHost('nbd://[::1]:10809')).toBe('::1');
  });

  it('conversions: at most the limit, FIFO, the holder shown in the waiting event', async () => {
    const events: BatchEvent[] = [];
    const s = new BatchSlots(limits({ conversions: 1 }), (e) => events.push(e));
    const c = contenders((id) => s.forGuest(id).convert(never), ['g1', 'g2', 'g3']);
    await tick();
    expect(c.order).toEqual(['g1']);
    expect(s.snapshot().map((v) => [v.id, v.state])).toEqual([
      ['g1', 'converting'],
      ['g2', 'waiting-convert'],
      ['g3', 'waiting-convert'],
    ]);
    expect(events.filter((e) => e.type === 'slot.waiting')).toEqual([
      { type: 'slot.waiting', guest: 'g2', slot: 'convert', holders: ['g1'] },
      { type: 'slot.waiting', guest: 'g3', slot: 'convert', holders: ['g1'] },
    ]);
    c.releases.get('g1')!();
    await tick();
    expect(c.order).toEqual(['g1', 'g2']);
    expect(s.snapshot()[0]!.state).toBe('running');
  });

  it('copies: the global limit and the per-host limit', async () => {
    const s = new BatchSlots(limits({ copies: 3, copiesPerHost: 1 }));
    const disk = (id: string) => ({ disk: 'sda', size: 1, source: id.startsWith('a') ? 'nbd://a.example/x' : id.startsWith('b') ? 'nbd://b.example/x' : `/d/${id}.img` });
    const c = contenders(async (id) => (await s.forGuest(id).copy(disk(id), never)).release, ['a1', 'a2', 'b1', 'f1', 'f2', 'b2']);
    await tick();
    // a1, b1 and f1 (local) are in; a2, f2 wait for their host; b2 for its host.
    expect(c.order).toEqual(['a1', 'b1', 'f1']);
    expect(s.snapshot().find((v) => v.id === 'a2')!.copies).toEqual([{ disk: 'sda', host: 'a.example', state: 'waiting' }]);
    c.releases.get('f1')!();
    await tick();
    expect(c.order).toEqual(['a1', 'b1', 'f1', 'f2']); // a2 still waits for host a
    c.releases.get('a1')!();
    await tick();
    expect(c.order).toEqual(['a1', 'b1', 'f1', 'f2', 'a2']);
    expect(s.snapshot().find((v) => v.id === 'a1')!.copies).toEqual([]);
  });

  it('bandwidth: each copy gets its share of it among the copies in flight when it starts', async () => {
    const s = new BatchSlots(limits({ copies: 4, bandwidth: 120 }));
    const d = { disk: 'sda', size: 1, source: '/a.img' };
    const one = await s.forGuest('g1').copy(d, never);
    const two = await s.forGuest('g2').copy(d, never);
    const three = await s.forGuest('g3').copy(d, never);
    expect([one.rateLimit, two.rateLimit, three.rateLimit]).toEqual([120, 60, 40]);
    two.release();
    three.release();
    expect((await s.forGuest('g4').copy(d, never)).rateLimit).toBe(60);
    await expect(new BatchSlots(limits({})).forGuest('g').copy(d, never)).resolves.not.toHaveProperty('rateLimit');
  });

  it('abort releases waiters: a cancelled batch leaves no one queued and every slot free', async () => {
    const s = new BatchSlots(limits({ conversions: 1, copies: 1, guests: 2 }));
    const ac = new AbortController();
    const g1 = await s.guest('g1', ac.signal);
    const g2 = await s.guest('g2', ac.signal);
    const waitingGuest = s.guest('g3', ac.signal);
    const conv = await s.forGuest('g1').convert(ac.signal);
    const waitingConv = s.forGuest('g2').convert(ac.signal);
    const copy = await s.forGuest('g1').copy({ disk: 'sda', size: 1, source: '/a' }, ac.signal);
    const waitingCopy = s.forGuest('g2').copy({ disk: 'sdb', size: 1, source: '/b' }, ac.signal);
    ac.abort();
    for (const p of [waitingGuest, waitingConv, waitingCopy]) expect((await rejectionOf(p)).code).toBe('ABORT_ERR');
    expect(s.snapshot().find((v) => v.id === 'g2')).toMatchObject({ state: 'running', copies: [] });
    for (const r of [conv, copy.release, g1, g2]) r();
    // Everything free again: as many as the limits allow go through at once.
    await s.guest('x', never);
    await s.guest('y', never);
    await s.forGuest('x').convert(never);
    await s.forGuest('x').copy({ disk: 'sda', size: 1, source: '/a' }, never);
  });
});
