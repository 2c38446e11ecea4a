import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../compute/src';
import { gradCam } from '../gradcam/gradcam';
import { loadModel, loadWeightsInto, saveModel } from '../io/checkpoint';
import { modelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import { predict, trainFinetune, trainSsl } from './loops';
import { constructedCohort } from './synthetic';

/**
 * The whole local pipeline once at full size (64×64, 6 phases, 4 stages) — what `train --stage
 * both` then `predict` will run — on two patients and one step per stage, so shape or wiring
 * errors that the tiny configs cannot show surface here.
 */
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

it('SSL → save → load encoder → fine-tune → save → load → predict → Grad-CAM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phcc-full-'));
  try {
    const cohort = constructedCohort(modelConfig(), { patients: 2, seed: 1 });
    const ssl = PhccModel.create({}, 1);
    const sslHistory = await trainSsl(ssl, cohort, { epochs: 1, batchSize: 12, seed: 1 });
    expect(sslHistory.steps).toBe(1);
    expect(Number.isFinite(sslHistory.epochLosses[0])).toBe(true);
    await saveModel(ssl, join(dir, 'ssl'), { stage: 'ssl' });

    const classifier = PhccModel.create({}, 2);
    await loadWeightsInto(classifier, join(dir, 'ssl'), { parts: ['encoder'] });
    expect(classifier.params.getWeights({ parts: ['encoder'] })).toEqual(
      ssl.params.getWeights({ parts: ['encoder'] }),
    );
    const ftHistory = await trainFinetune(classifier, cohort, {
      epochs: 1,
      batchSize: 2,
      freezeEncoderEpochs: 0,
      seed: 1,
    });
    expect(ftHistory.images).toBe(12);
    await saveModel(classifier, join(dir, 'final'), { stage: 'finetune' });

    const { model: loaded } = await loadModel(join(dir, 'final'));
    const p = await predict(loaded, cohort);
    expect(Array.from(p)).toEqual(Array.from(await predict(classifier, cohort)));
    expect(p.every((v) => v > 0 && v < 1)).toBe(true);
    const cam = gradCam(loaded, cohort[0].x);
    expect(cam.maps).toHaveLength(6);
    expect(cam.maps[0]).toHaveLength(64 * 64);
    expect(cam.probability).toBeCloseTo(p[0], 5);
    [ssl, classifier, loaded].forEach((m) => m.dispose());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
