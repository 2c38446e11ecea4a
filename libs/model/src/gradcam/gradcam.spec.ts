import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { initBackend } from '../../../compute/src';
import { modelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import { NO_AUGMENT } from '../training/augment';
import { predict, trainFinetune } from '../training/loops';
import { constructedCohort } from '../training/synthetic';
import { gradCam, massFraction } from './gradcam';
import { writeHeatmapNifti, writeOverlayPngs } from './render';
import { TINY } from '../__tests__/tiny-config';

// Global token pooling: the setting in which Grad-CAM's channel weights (the spatial mean of the
// gradient) are exactly the pooled features' gradients, so localisation tests the CAM itself.
// With the default region pooling the tumour's cells weigh more in every token, and the CAM of an
// off-tumour signal also lights the tumour (docs/MODEL.md, Grad-CAM).
const GLOBAL_TINY = { ...TINY, tokenPooling: 'global' as const };
const config = modelConfig(GLOBAL_TINY);

let model: PhccModel;
const cohort = constructedCohort(config, {
  patients: 8,
  seed: 21,
  signalQuadrant: 3,
  backgroundAmplitude: 0.3,
});

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  model = PhccModel.create(GLOBAL_TINY, 5);
  // The class signal (a spot that appears in phase 1) lives only in the bottom-right quadrant.
  // Head-only training on a random encoder learns it quickly and reliably.
  await trainFinetune(model, cohort, {
    epochs: 50,
    batchSize: 8,
    lr: 1e-2,
    freezeEncoderEpochs: 50,
    augment: NO_AUGMENT,
    seed: 1,
  });
}, 60_000);

afterAll(() => model.dispose());

describe('Grad-CAM', () => {
  it('puts most of the phase-1 heat in the quadrant that carries the signal', async () => {
    const p = await predict(model, cohort);
    // Explain the positives the model recognises (a CAM of a missed case explains nothing).
    const positives = cohort.map((c, i) => ({ c, p: p[i] })).filter(({ c, p }) => c.label === 1 && p > 0.8);
    expect(positives.length).toBeGreaterThanOrEqual(3);
    const fractions = positives.map(({ c }) => {
      const cam = gradCam(model, c.x);
      expect(cam.maps).toHaveLength(2);
      expect(Math.max(...cam.maps.map((m) => Math.max(...m)))).toBeCloseTo(1, 5);
      return massFraction(cam.maps[1], 32, 16, 32, 16, 32);
    });
    const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
    // A uniform map would put 0.25 of its mass there; this tiny head-only fit on a random
    // encoder reaches ~0.59 (measured), so 0.5 = twice the uniform share is the bar.
    expect(mean).toBeGreaterThanOrEqual(0.5);
  });

  it('writes PNG overlays and a NIfTI heat map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-cam-'));
    try {
      const tensorsBefore = tf.memory().numTensors;
      const cam = gradCam(model, cohort[0].x);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      const pngs = writeOverlayPngs(dir, 'p0', cohort[0].x, config, cam, { scale: 2 });
      expect(pngs).toHaveLength(2);
      const png = PNG.sync.read(readFileSync(pngs[1]));
      expect([png.width, png.height]).toEqual([64, 64]);
      const nifti = join(dir, 'p0_gradcam.nii.gz');
      await writeHeatmapNifti(nifti, cam, { pixdim: [0.8, 0.8, 3, 0] });
      expect(existsSync(nifti) && statSync(nifti).size > 100).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains a region-pooling model too (the default), leaking no tensors', () => {
    const regions = PhccModel.create(TINY, 5);
    try {
      const before = tf.memory().numTensors;
      const cam = gradCam(regions, cohort[0].x);
      expect(tf.memory().numTensors).toBe(before);
      expect(cam.maps).toHaveLength(2);
      expect(cam.maps.every((m) => m.length === 32 * 32 && m.every(Number.isFinite))).toBe(true);
    } finally {
      regions.dispose();
    }
  });

  it('rejects an array of the wrong size', () => {
    expect(() => gradCam(model, new Float32Array(10))).toThrow(/expects/);
  });
});
