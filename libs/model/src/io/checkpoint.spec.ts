import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../compute/src';
import { modelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import { predict } from '../training/loops';
import { constructedCohort } from '../training/synthetic';
import { loadModel, loadWeightsInto, readModelMetadata, saveModel } from './checkpoint';
import { MODEL_JSON, WEIGHTS_BIN } from './fs-handler';
import { TINY } from '../__tests__/tiny-config';

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-model-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('saveModel / loadModel', () => {
  it('save → load gives identical weights and predictions', async () => {
    const model = PhccModel.create(TINY, 11);
    const cohort = constructedCohort(modelConfig(TINY), { patients: 3, seed: 1 });
    const before = await predict(model, cohort);
    const metadata = await saveModel(model, dir, { stage: 'finetune', preprocessing: { method: 'zscore' } });
    expect(metadata.parts.encoder).toContain('encoder/stem/conv/kernel');
    expect(metadata.normParameters).toContain('head/pool_norm/gamma');

    const modelJson = JSON.parse(readFileSync(join(dir, MODEL_JSON), 'utf8'));
    expect(modelJson.weightsManifest[0].paths).toEqual([WEIGHTS_BIN]);
    expect(modelJson.weightsManifest[0].weights[0]).toEqual({
      name: 'encoder/stem/conv/kernel',
      shape: [2, 2, 4, 8],
      dtype: 'float32',
    });

    const { model: loaded, metadata: read } = await loadModel(dir);
    expect(read.config).toEqual(model.config);
    expect(read.stage).toBe('finetune');
    expect(loaded.params.getWeights()).toEqual(model.params.getWeights());
    expect(Array.from(await predict(loaded, cohort))).toEqual(Array.from(before));
    model.dispose();
    loaded.dispose();
  });

  it('loads only the requested parts into an existing model', async () => {
    const source = PhccModel.create(TINY, 1);
    await saveModel(source, dir, { stage: 'ssl' });
    const target = PhccModel.create(TINY, 2);
    const headBefore = target.params.getWeights({ parts: ['head'] });
    await loadWeightsInto(target, dir, { parts: ['encoder'] });
    expect(target.params.getWeights({ parts: ['encoder'] })).toEqual(
      source.params.getWeights({ parts: ['encoder'] }),
    );
    expect(target.params.getWeights({ parts: ['head'] })).toEqual(headBefore);
    source.dispose();
    target.dispose();
  });

  it('rejects truncated weights, escaping shard paths and other architectures', async () => {
    const model = PhccModel.create(TINY, 1);
    await saveModel(model, dir);
    const weights = readFileSync(join(dir, WEIGHTS_BIN));
    writeFileSync(join(dir, WEIGHTS_BIN), weights.subarray(0, weights.length - 4));
    await expect(loadModel(dir)).rejects.toThrow(/weight files hold .* bytes/);

    writeFileSync(join(dir, WEIGHTS_BIN), weights);
    const modelJson = JSON.parse(readFileSync(join(dir, MODEL_JSON), 'utf8'));
    modelJson.weightsManifest[0].paths = ['../../etc/passwd'];
    writeFileSync(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    await expect(loadModel(dir)).rejects.toThrow(/leaves the model directory/);

    await saveModel(model, dir);
    const bigger = PhccModel.create({ ...TINY, dims: [8, 24] }, 1);
    await expect(loadWeightsInto(bigger, dir)).rejects.toThrow(/has shape/);
    expect(() => readModelMetadata(join(dir, 'nope'))).toThrow(/not found/);
    model.dispose();
    bigger.dispose();
  });
});
