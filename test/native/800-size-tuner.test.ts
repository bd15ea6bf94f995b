// The copier's request-size tuner (native/size-tuner.h) on simulated copies
// (native/size-tuner-sim.cc): requests complete one after another on a
// virtual clock at the rate given for their size, so what the tuner chooses
// is checked exactly, drift included, without this VM's noise. The copy's
// own defaults: start 128 KiB, up to 2 MiB, 16 MiB in flight, 32 requests.
import { describe, expect, it } from 'vitest';
import { addon, type SizeTunerSimulation } from '../../src/nbd/binding.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GB = 1e9;
const [S128K, S512K, S2M] = [128 * KiB, 512 * KiB, 2 * MiB];

/** A 4 GiB copy with the defaults, at RATES (bytes per second of 128 KiB, 512 KiB, 2 MiB requests). */
function simulate(phases: { untilTrials?: number; rates: [number, number, number] }[], bytes = 4 * 1024 * MiB) {
  const o: SizeTunerSimulation = {
    start: S128K,
    max: S2M,
    rangeSize: 128 * MiB,
    queueBytes: 16 * MiB,
    maxRequests: 32,
    bytes,
    phases: phases.map((p) => ({
      ...(p.untilTrials === undefined ? {} : { untilTrials: p.untilTrials }),
      rates: [
        [S128K, p.rates[0]],
        [S512K, p.rates[1]],
        [S2M, p.rates[2]],
      ],
    })),
  };
  return addon.simulateSizeTuner(o);
}

const sizesOf = (trials: [number, number][]) => trials.map(([s]) => s / KiB);

describe('the request-size tuner, simulated', () => {
  it('sizes that copy alike: three rounds up, down, up; the start size kept', () => {
    const r = simulate([{ rates: [GB, GB, GB] }]);
    expect(r.settled).toBe(true);
    expect(r.size).toBe(S128K);
    expect(sizesOf(r.trials)).toEqual([128, 512, 2048, 2048, 512, 128, 128, 512, 2048]);
  });

  it('a size twice as fast is found', () => {
    const r = simulate([{ rates: [GB, GB, 2 * GB] }]);
    expect(r.size).toBe(S2M);
  });

  it('sizes plainly slower than the start size are dropped after one epoch each', () => {
    const r = simulate([{ rates: [GB, 0.8 * GB, 0.7 * GB] }]);
    expect(r.size).toBe(S128K);
    expect(sizesOf(r.trials)).toEqual([128, 512, 2048]);
  });

  it('the start size is left only for one at least 3 % better', () => {
    expect(simulate([{ rates: [GB, 1.02 * GB, GB] }]).size).toBe(S128K);
    expect(simulate([{ rates: [GB, 1.05 * GB, GB] }]).size).toBe(S512K);
  });

  it('the machine slowing to a third after the fourth epoch does not favour the sizes measured before', () => {
    // 128 KiB truly the best by 4 %; the slowdown hits round 2's 512 KiB and
    // 128 KiB and all of round 3. The sweep this replaced (one epoch per
    // size up, then down, mean rate) chose 2 MiB here: (1.15 + 1.15) / 2
    // against (1.2 + 0.4) / 2 for 128 KiB.
    const fast: [number, number, number] = [1.2 * GB, 1.17 * GB, 1.15 * GB];
    const slow = fast.map((x) => x / 3) as [number, number, number];
    const r = simulate([{ untilTrials: 4, rates: fast }, { rates: slow }]);
    expect(sizesOf(r.trials)).toEqual([128, 512, 2048, 2048, 512, 128, 128, 512, 2048]);
    expect(r.size).toBe(S128K);
  });

  it('a copy shorter than the rounds ends in them, unsettled', () => {
    const r = simulate([{ rates: [GB, GB, GB] }], 64 * MiB);
    expect(r.settled).toBe(false);
    expect(r.bytes).toBeGreaterThanOrEqual(64 * MiB);
  });

  it('no sizes to choose among (max = start): settled at once', () => {
    const r = addon.simulateSizeTuner({ start: S128K, max: S128K, rangeSize: 128 * MiB, queueBytes: 0, maxRequests: 32, bytes: GB, phases: [{ rates: [[S128K, GB]] }] });
    expect(r).toMatchObject({ settled: true, size: S128K, bytes: 0, trials: [] });
  });

  it('a malformed simulation is refused, not run', () => {
    const base = { start: S128K, max: S2M, rangeSize: 128 * MiB, queueBytes: 16 * MiB, maxRequests: 32, bytes: GB };
    expect(() => addon.simulateSizeTuner({ ...base, phases: [] })).toThrow(/phases must be a non-empty array/);
    expect(() => addon.simulateSizeTuner({ ...base, phases: [{ rates: [[S128K, GB]] }] })).toThrow(/no rate for size 524288/);
    expect(() => addon.simulateSizeTuner({ ...base, phases: [1 as never] })).toThrow(/each phase must be/);
  });
});
