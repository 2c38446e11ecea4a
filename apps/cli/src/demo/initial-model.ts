import type { Log } from '../../../../libs/common/src';
import { encodeWeights } from '../../../../libs/weights/src';
import type { ModelConfig } from '../../../../libs/model/src/network/config';

/**
 * The run's first global model: freshly initialised weights, seeded so a demo is reproducible.
 * Made here (tfjs loaded lazily) because the coordinator never creates weights itself.
 */
export async function initialWeights(
  config: Partial<ModelConfig>,
  seed: number,
  options: { backend?: string; log?: Log } = {},
): Promise<Buffer> {
  const { initBackend } = await import('../../../../libs/compute/src');
  const { PhccModel } = await import('../../../../libs/model/src/network');
  await initBackend(options);
  const model = PhccModel.create(config, seed);
  try {
    return encodeWeights(model.params.getWeights(), 'float32');
  } finally {
    model.dispose();
  }
}
