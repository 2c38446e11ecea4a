import { initBackend } from '../../../compute/src/select';
import { PhccModel } from '../network/model';
import { TINY } from '../__tests__/tiny-config';
import { modelConfig } from '../network';
import { trainSsl } from './loops';
import { cosineLr } from './optimizer';
import { constructedCohort } from './synthetic';

/** A federated round's local epochs placed in its stage's one schedule (`schedule` option). */
describe('LR schedule placed across calls', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('epochs 3–4 of 4 take the LRs of global steps 2·spe … 4·spe − 1, with the warm-up at the stage start', async () => {
    const data = constructedCohort(modelConfig(TINY), { patients: 4, seed: 1 }).map((p) => ({
      ...p,
      split: 'train',
    }));
    const model = PhccModel.create(TINY, 1);
    const lrs: number[] = [];
    let spe = 0;
    await trainSsl(
      model,
      data,
      { epochs: 2, lr: 1e-3, warmupEpochs: 1, batchSize: 8, schedule: { startEpoch: 2, totalEpochs: 4 } },
      (p) => {
        lrs.push(p.lr);
        spe = p.stepsPerEpoch;
      },
    );
    const schedule = { baseLr: 1e-3, warmupSteps: spe, totalSteps: 4 * spe };
    expect(lrs).toEqual(Array.from({ length: 2 * spe }, (_, k) => cosineLr(2 * spe + k, schedule)));
    // Past the peak: no restarted warm-up in a later round.
    expect(lrs[0]).toBeLessThan(1e-3);
    await expect(
      trainSsl(model, data, { epochs: 2, batchSize: 8, schedule: { startEpoch: 3, totalEpochs: 4 } }),
    ).rejects.toThrow(/epochs 4–5 do not fit a schedule of 4/);
    model.dispose();
  });
});
