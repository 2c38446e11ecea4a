import { InputError } from '../../../common/src';
import { combineTokenCentre } from '../token-centre';
import { epochsPerSite, federatedBudgetFor } from './budget';
import { lrAtGlobalEpoch, stageScheduleOf, warmupCosineLr } from './lr-schedule';

describe('one warm-up + cosine schedule across rounds', () => {
  const s = { baseLr: 2e-3, warmup: 2, total: 12 };

  it('warms up linearly from the first position, peaks, decays to the 1 % floor', () => {
    expect(warmupCosineLr(0, s)).toBeCloseTo(1e-3, 15);
    expect(warmupCosineLr(1, s)).toBeCloseTo(2e-3, 15);
    expect(warmupCosineLr(2, s)).toBeCloseTo(2e-3, 15);
    // Half-way through the decay: floor + (base − floor)/2.
    expect(warmupCosineLr(7, s)).toBeCloseTo(2e-5 + (2e-3 - 2e-5) / 2, 15);
    expect(warmupCosineLr(12, s)).toBeCloseTo(2e-5, 15);
    expect(warmupCosineLr(100, s)).toBeCloseTo(2e-5, 15);
  });

  it('round r of R rounds × E epochs covers global epochs rE … rE + E − 1 of R·E', () => {
    const stage = { rounds: 4, localEpochs: 3 };
    expect([0, 1, 2, 3].map((r) => stageScheduleOf(stage, r))).toEqual([
      { startEpoch: 0, totalEpochs: 12 },
      { startEpoch: 3, totalEpochs: 12 },
      { startEpoch: 6, totalEpochs: 12 },
      { startEpoch: 9, totalEpochs: 12 },
    ]);
    expect(() => stageScheduleOf(stage, 4)).toThrow(/round 4 is outside the stage's 4 rounds/);
  });

  it('is monotone after the warm-up, with no saw-tooth at round boundaries', () => {
    const stage = { rounds: 4, localEpochs: 3 };
    const lrs = Array.from({ length: 12 }, (_, e) =>
      lrAtGlobalEpoch(e, { baseLr: 1e-3, warmupEpochs: 1, totalEpochs: 12 }),
    );
    for (let e = 2; e < 12; e++) expect(lrs[e]).toBeLessThan(lrs[e - 1]);
    // The first epoch of round 2 continues from the last of round 1, far below the peak.
    const { startEpoch } = stageScheduleOf(stage, 2);
    expect(lrs[startEpoch]).toBeLessThan(0.75e-3);
  });
});

describe('budget rule: rounds × local epochs = central epochs', () => {
  it('15 central epochs at 5 local epochs per round → 3 rounds, the same warm-up and freeze', () => {
    const b = federatedBudgetFor({ epochs: 15, warmupEpochs: 1, freezeEncoderEpochs: 2 }, 5);
    expect(b).toEqual({
      rounds: 3,
      localEpochs: 5,
      warmupEpochs: 1,
      frozenEncoderWarmupEpochs: 2,
      epochsPerSite: 15,
    });
    expect(epochsPerSite(b)).toBe(15);
  });

  it('refuses local epochs that do not divide the central epochs, and bad numbers', () => {
    expect(() => federatedBudgetFor({ epochs: 15, warmupEpochs: 1 }, 4)).toThrow(
      /15 central epochs are not a whole number of rounds of 4/,
    );
    expect(() => federatedBudgetFor({ epochs: 0, warmupEpochs: 1 }, 1)).toThrow(InputError);
    expect(() => federatedBudgetFor({ epochs: 4, warmupEpochs: 1 }, 1.5)).toThrow(/local epochs/);
  });
});

describe('federated token centre from counts and means', () => {
  it('is the mean over all patients, not the mean of site means', () => {
    // Site a: 1 patient at (0, 0); site b: 3 patients at (4, 8) → (3, 6), not (2, 4).
    const centre = combineTokenCentre([
      { site: 'a', count: 1, mean: [0, 0] },
      { site: 'b', count: 3, mean: [4, 8] },
    ]);
    expect(Array.from(centre)).toEqual([3, 6]);
  });

  it('refuses shares of another width, empty counts and non-finite values by site', () => {
    expect(() =>
      combineTokenCentre([
        { site: 'a', count: 1, mean: [0, 0] },
        { site: 'b', count: 1, mean: [0] },
      ]),
    ).toThrow(/site b sent 1 values, expected 2/);
    expect(() => combineTokenCentre([{ site: 'a', count: 0, mean: [0] }])).toThrow(/site a count 0/);
    expect(() => combineTokenCentre([{ site: 'a', count: 1, mean: [NaN] }])).toThrow(/site a value 0 is NaN/);
    expect(() => combineTokenCentre([])).toThrow(InputError);
  });
});
