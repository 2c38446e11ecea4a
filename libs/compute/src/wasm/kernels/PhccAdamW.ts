import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { ADAMW_HYPER } from '../simd/optimizer-wat';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * One AdamW step of one parameter on the wasm heap: returns the new weights and updates the
 * moments m and v **in place**. They are the optimiser's private state (training/optimizer.ts
 * creates them and hands them to nobody else), so writing them where they lie saves two copies
 * each way per parameter per step; the weights get a new tensor, because other tensors may share
 * the old one's data. The attributes are `AdamWHyper`; `adamwStep` (ops/adamw.ts) is the op.
 */
export const PhccAdamW = 'PhccAdamW';

/** The step's scalars, each as the JS AdamW computes it (simd/optimizer-wat.ts says how they are used). */
export type AdamWHyper = Record<(typeof ADAMW_HYPER)[number], number>;

/** The SIMD helper this kernel calls (signature in threads/split-jobs.ts). */
type Calls = Pick<SimdHelpers, 'adamwUpdate'>;

const adamwStep: KernelFunc = ({ inputs, backend, attrs }) => {
  const { param, grad, m, v } = inputs as Record<'param' | 'grad' | 'm' | 'v', TensorInfo>;
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccAdamW} needs the wasm SIMD helpers`);
  const size = param.shape.reduce((a, b) => a * b, 1);
  for (const [name, t] of [
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const) {
    if (t.shape.reduce((a, b) => a * b, 1) !== size || t.dtype !== 'float32')
      throw new Error(`${PhccAdamW}: ${name} must be float32 with the parameter's ${size} values`);
  }
  const ops = new WasmOps(backend);
  const out = ops.empty(param.shape);
  // Nine float64 values (two floats each) after whatever alignment the heap gives: wasm's
  // f64.load takes any address, and a DataView writes them without an alignment rule either.
  const hyper = ops.empty([2 * ADAMW_HYPER.length]);
  const at = ops.pointer(hyper);
  const view = new DataView(ops.view(hyper).buffer);
  const values = attrs as unknown as AdamWHyper;
  ADAMW_HYPER.forEach((name, i) => view.setFloat64(at + 8 * i, values[name], true));
  helpers.adamwUpdate(
    ops.pointer(param),
    ops.pointer(grad),
    ops.pointer(m),
    ops.pointer(v),
    ops.pointer(out),
    size,
    at,
  );
  return ops.finish(out);
};

export const phccAdamWConfig: ReplacementKernelConfig = {
  kernelName: PhccAdamW,
  backendName: 'wasm',
  kernelFunc: adamwStep,
};
