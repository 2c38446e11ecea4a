import { InputError, Rng } from '../../common/src';
import { elementCount } from './named-arrays';
import { NamedArray, TensorLayout } from './types';

/**
 * Model-shaped layouts and weights for simulations, benchmarks and tests: tensors named like the
 * pHCC-SSL model's (`encoder/…`, `decoder/…`, `head/…`, with `/ln` and `/grn` normalisation
 * parameters) so part selection and FedBN behave as on the real model, at any size.
 */
export function simulatedLayout(totalParams: number, channels = 64): TensorLayout[] {
  const block = (prefix: string): TensorLayout[] => [
    { name: `${prefix}/dw/kernel`, shape: [7, 7, 1, channels] },
    { name: `${prefix}/ln/beta`, shape: [channels] },
    { name: `${prefix}/ln/gamma`, shape: [channels] },
    { name: `${prefix}/pw1/kernel`, shape: [channels, 3 * channels] },
    { name: `${prefix}/pw1/bias`, shape: [3 * channels] },
    { name: `${prefix}/grn/gamma`, shape: [3 * channels] },
    { name: `${prefix}/grn/beta`, shape: [3 * channels] },
    { name: `${prefix}/pw2/kernel`, shape: [3 * channels, channels] },
    { name: `${prefix}/pw2/bias`, shape: [channels] },
  ];
  const blockParams = elementCount([7, 7, 1, channels]) + 6 * channels * channels + 7 * channels;
  // Encoder gets most blocks, decoder and head one each, plus one filler tensor for the rest.
  const layout: TensorLayout[] = [];
  const blocks = Math.max(3, Math.floor((totalParams * 0.9) / blockParams));
  if (totalParams < blocks * blockParams + 1) {
    throw new InputError(
      `a simulated model needs at least ${3 * blockParams + 1} parameters (got ${totalParams})`,
    );
  }
  for (let b = 0; b < blocks - 2; b++) layout.push(...block(`encoder/b${b}`));
  layout.push(...block('decoder/b0'));
  layout.push(...block('head/b0'));
  layout.push({ name: 'encoder/proj/kernel', shape: [totalParams - blocks * blockParams] });
  return layout;
}

/** Values uniform in [−scale, scale] for every tensor of the layout. */
export function simulatedWeights(layout: readonly TensorLayout[], rng: Rng, scale = 0.1): NamedArray[] {
  return layout.map((t) => {
    const values = new Float32Array(elementCount(t.shape));
    for (let i = 0; i < values.length; i++) values[i] = (rng.next() * 2 - 1) * scale;
    return { name: t.name, shape: [...t.shape], values };
  });
}
