import { PhccError } from '../../common/src';
import { byName, elementCount, formatShape, shapesEqual } from './named-arrays';
import { NamedArray, UpdateKind } from './types';

/**
 * A site's local model as the coordinator can know it: the global it trained from with the
 * site's update applied (global + delta for 'delta' updates, the sent tensors themselves for
 * 'weights'). Used by the cross-site evaluation matrix, where each site's model is evaluated at
 * the other sites without the site ever sending its full model.
 *
 * Tensors the update does not carry (parts the stage does not train, e.g. the decoder in
 * fine-tuning, and tensors kept local such as FedBN's normalisation layers) keep the global's
 * values: the coordinator never sees a site's kept-local tensors. The sum is rounded to float32,
 * so the result equals the site's model up to float32 rounding and the update's encoding
 * (float16/int8 quantisation, clipping or noise applied before sending).
 *
 * Returns new arrays in the global's order; neither input is modified.
 */
export function localModelFrom(
  global: readonly NamedArray[],
  update: readonly NamedArray[],
  kind: UpdateKind,
): NamedArray[] {
  const sent = byName(update);
  const known = new Set(global.map((t) => t.name));
  for (const name of sent.keys()) {
    if (!known.has(name)) {
      throw new PhccError(
        `the update carries "${name}", which the global model does not have`,
        'NAME_MISMATCH',
      );
    }
  }
  return global.map((base) => {
    const mine = sent.get(base.name);
    const values = new Float32Array(base.values);
    if (mine) {
      if (!shapesEqual(mine.shape, base.shape) || mine.values.length !== elementCount(base.shape)) {
        throw new PhccError(
          `update tensor "${base.name}" has shape ${formatShape(mine.shape)}, the global ${formatShape(base.shape)}`,
          'SHAPE_MISMATCH',
        );
      }
      if (kind === 'delta') for (let i = 0; i < values.length; i++) values[i] = values[i] + mine.values[i];
      else values.set(mine.values);
    }
    return { name: base.name, shape: [...base.shape], values };
  });
}
