import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../compute/src';
import { modelConfig } from '../network/config';
import { TOKEN_CENTER } from '../network/head';
import { PhccModel } from '../network/model';
import { TINY } from '../__tests__/tiny-config';
import { initTokenCenter, trainFinetune } from './loops';
import { constructedCohort } from './synthetic';

const config = modelConfig(TINY);

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('token centring', () => {
  const cohort = constructedCohort(config, { patients: 5, seed: 3 });

  it('sets the centre to the mean pooled feature over every phase of the given patients', async () => {
    const model = PhccModel.create(TINY, 2);
    try {
      const center = model.params.get(TOKEN_CENTER);
      expect(Array.from(center.dataSync()).every((v) => v === 0)).toBe(true);
      await initTokenCenter(model, cohort, [0, 1, 2, 3, 4], 2); // batches of 2: the sum spans batches
      const { phases: t, imageSize: s, inChannels: c } = config;
      const all = new Float32Array(cohort.length * t * s * s * c);
      cohort.forEach((p, i) => all.set(p.x, i * p.x.length));
      const expected = tf.tidy(() =>
        tf.mean(model.pooledFeatures(tf.tensor4d(all, [cohort.length * t, s, s, c])), 0).dataSync(),
      );
      const got = center.dataSync();
      expect(got.length).toBe(3 * config.dims[config.dims.length - 1]);
      let maxDiff = 0;
      got.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected[i]))));
      expect(maxDiff).toBeLessThan(1e-5);
      expect(Math.max(...Array.from(got).map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      model.dispose();
    }
  });

  it('is set by fine-tuning by default, and left alone with centerTokens: false', async () => {
    const centred = PhccModel.create(TINY, 2);
    const plain = PhccModel.create(TINY, 2);
    try {
      const options = { epochs: 1, batchSize: 5, freezeEncoderEpochs: 1, seed: 1 };
      await trainFinetune(centred, cohort, options);
      await trainFinetune(plain, cohort, { ...options, centerTokens: false });
      // The warm-up epoch freezes the encoder, so the centre is what the init set, moved by one
      // Adam step at most; without centring only that step moved it off zero.
      const magnitude = (m: PhccModel) =>
        Math.max(...Array.from(m.params.get(TOKEN_CENTER).dataSync()).map(Math.abs));
      expect(magnitude(centred)).toBeGreaterThan(10 * magnitude(plain));
    } finally {
      centred.dispose();
      plain.dispose();
    }
  });

  it('does not exist with global pooling (older models) and is then a no-op', async () => {
    const model = PhccModel.create({ ...TINY, tokenPooling: 'global' }, 2);
    try {
      expect(model.params.has(TOKEN_CENTER)).toBe(false);
      await expect(initTokenCenter(model, cohort, [0, 1])).resolves.toBeUndefined();
    } finally {
      model.dispose();
    }
  });
});
