import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import { TINY } from '../__tests__/tiny-config';
import { predict } from '../training/loops';
import { batchDynamicScales, DYNAMIC_SCALE_LIMIT, dynamicTokenScales } from './dynamic-time';
import { PhccModel } from './model';

describe('dynamic-token timing factors', () => {
  const nominal = [0, 35, 70, 180];

  it('rescale each interval to the nominal one', () => {
    // Arterial at 20 s instead of 35: the wash-in had 20 s, the protocol means 35.
    expect(Array.from(dynamicTokenScales(4, nominal, [0, 20, 70, 180]))).toEqual(
      [35 / 20, 35 / 50, 1].map(Math.fround),
    );
  });

  it('are 1 when a time is unknown, an interval is not positive, or the counts differ', () => {
    expect(Array.from(dynamicTokenScales(4, undefined, [0, 20, 70, 180]))).toEqual([1, 1, 1]);
    expect(Array.from(dynamicTokenScales(4, nominal, null))).toEqual([1, 1, 1]);
    expect(Array.from(dynamicTokenScales(4, nominal, [0, 30, 30, 200]))).toEqual([
      Math.fround(35 / 30),
      1,
      Math.fround(110 / 170),
    ]);
    expect(Array.from(dynamicTokenScales(4, nominal, [0, 30, 60]))).toEqual([1, 1, 1]);
  });

  it(`are bounded to [1/${DYNAMIC_SCALE_LIMIT}, ${DYNAMIC_SCALE_LIMIT}]`, () => {
    expect(Array.from(dynamicTokenScales(3, [0, 100, 110], [0, 1, 1000]))).toEqual([4, 0.25]);
  });

  it('a batch whose factors are all 1 gives none (the model runs as without times)', () => {
    expect(batchDynamicScales(4, nominal, [nominal, null])).toBeUndefined();
    expect(batchDynamicScales(4, undefined, [[0, 20, 70, 180]])).toBeUndefined();
    expect(Array.from(batchDynamicScales(4, nominal, [null, [0, 20, 70, 180]])!)).toEqual(
      [1, 1, 1, 35 / 20, 35 / 50, 1].map(Math.fround),
    );
  });
});

describe('the model uses the actual phase times', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('changes a patient’s output when its phases come at other times than the nominal, and only then', async () => {
    const model = PhccModel.create({ ...TINY, phaseNames: ['pre', 'arterial'], phaseTimes: [0, 35] }, 7);
    const { phases, imageSize: s, inChannels: c } = model.config;
    const rng = new Rng(3);
    const x = Float32Array.from({ length: phases * s * s * c }, () => rng.normal());
    const patient = (phaseTimes: number[] | null) => ({ id: 'p', label: null, split: 'test', x, phaseTimes });
    const [unknown, nominal, early, again] = await predict(model, [
      patient(null),
      patient([0, 35]),
      patient([0, 15]),
      patient([0, 15]),
    ]);
    expect(nominal).toBe(unknown);
    expect(early).not.toBeCloseTo(nominal, 4);
    expect(again).toBe(early);
    // The same through the tensor API: a factor of 1 is the model without times.
    const patients = tf.tensor5d(x, [1, phases, s, s, c]);
    const plain = model.logits(patients).dataSync()[0];
    expect(model.logits(patients, tf.ones([1, phases - 1]) as tf.Tensor2D).dataSync()[0]).toBeCloseTo(
      plain,
      5,
    );
    model.dispose();
  });
});
