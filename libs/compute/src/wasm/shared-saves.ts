import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Saved tensors without an `Identity` dispatch (issue #19). tfjs's engine clones every tensor a
 * gradient saves — for registered gradients (`inputsToSave`/`outputsToSave`) and for customGrad's
 * `save()` alike — by running the `Identity` kernel (`Engine.clone`). On wasm our Identity kernel
 * only shares the buffer (kernels/Identity.ts), so what is left of each clone is the dispatch:
 * kernel lookup, scoped run, profiler hooks; an SSL step made ≈ 290 of them (≈ 40 % of its
 * dispatches). Moving the custom ops from customGrad to registered gradients would not remove
 * any: the engine clones those saves the same way.
 *
 * `installSharedSaves` replaces the engine's `clone` with what that Identity dispatch amounts to
 * on wasm: one more reference to the same buffer, a new tensor handle (the engine disposes the
 * saved handles after backprop) and the same tape node (a clone's gradient is `Cast(dy)`, as in
 * tfjs, so higher-order gradients through saved tensors still work). Tensors of other backends
 * keep tfjs's own clone. `PHCC_SHARED_SAVES=0` (or `sharedSavesSwitch.enabled = false`, as the
 * before/after bench does) restores tfjs's dispatching clone. Hand-written because tfjs has no
 * option for it; written against tfjs-core 4.22's engine, checked by shared-saves.spec.ts.
 */
export const sharedSavesSwitch = { enabled: process.env.PHCC_SHARED_SAVES !== '0' };

/** The engine internals this replacement uses (tfjs-core 4.x `Engine`, not in its typings). */
interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: TensorInfo, backend?: tf.KernelBackend): tf.Tensor;
  addTapeNode(
    scopeName: string,
    inputs: NamedTensorMap,
    outputs: tf.Tensor[],
    gradientsFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>,
    saved: tf.Tensor[],
    attrs: tf.NamedAttrMap,
  ): void;
  state: {
    activeScope: { name: string };
    tensorInfo: { get(dataId: object): { backend: tf.KernelBackend } | undefined };
  };
  findBackend(name: string): tf.KernelBackend | null;
}

let installed = false;

/** Whether `installSharedSaves` replaced the engine's clone (false before it, or on an engine it does not know). */
export function sharedSavesInstalled(): boolean {
  return installed;
}

/**
 * Installs the sharing clone on tfjs's engine (idempotent) and says whether it did. An engine
 * without the internals it relies on (another tfjs major) keeps tfjs's own clone: slower by a
 * dispatch per saved tensor, never wrong; shared-saves.spec.ts fails there, so an upgrade is
 * noticed.
 */
export function installSharedSaves(): boolean {
  if (installed) return true;
  const engine = tf.engine() as unknown as EngineInternals;
  const methods = ['clone', 'makeTensorFromTensorInfo', 'addTapeNode', 'findBackend'] as const;
  if (methods.some((m) => typeof engine[m] !== 'function') || !engine.state?.tensorInfo) return false;
  const wasm = engine.findBackend('wasm') as (tf.KernelBackend & { incRef?(dataId: object): void }) | null;
  const incRef = wasm?.incRef?.bind(wasm);
  if (!wasm || !incRef) return false;
  const tfjsClone = engine.clone.bind(engine);
  engine.clone = (x: tf.Tensor): tf.Tensor => {
    if (!sharedSavesSwitch.enabled || engine.state.tensorInfo.get(x.dataId)?.backend !== wasm) {
      return tfjsClone(x);
    }
    incRef(x.dataId);
    const y = engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, wasm);
    engine.addTapeNode(
      engine.state.activeScope.name,
      { x },
      [y],
      (dy) => ({ x: () => tf.cast(dy, 'float32') }),
      [],
      {},
    );
    return y;
  };
  installed = true;
  return true;
}
