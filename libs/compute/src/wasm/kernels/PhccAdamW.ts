import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { ADAMW_HYPER } from '../simd/optimizer-wat';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * One AdamW step of every parameter of an update on the wasm heap, as one dispatch: returns each
 * parameter's new weights and updates its moments m and v **in place**. They are the
 * optimiser's private state (training/optimizer.ts creates them and hands them to nobody else),
 * so writing them where they lie saves two copies each way per parameter per step; the weights
 * get new tensors, because other tensors may share the old ones' data. Inputs, as an array:
 * param, grad, m, v for each parameter in turn; `hyper` holds each parameter's `AdamWHyper` in
 * `ADAMW_HYPER` order. One dispatch for all (not one per parameter: 75–89 more engine calls a
 * step). `adamwSteps` (ops/adamw.ts) is the op.
 */
export const PhccAdamW = 'PhccAdamW';

/** One parameter's step scalars, each as the JS AdamW computes it (simd/optimizer-wat.ts says how they are used). */
export type AdamWHyper = Record<(typeof ADAMW_HYPER)[number], number>;

/** The SIMD helper this kernel calls (signature in threads/split-jobs.ts). */
type Calls = Pick<SimdHelpers, 'adamwUpdate'>;

const sizeOf = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

const adamwSteps: KernelFunc = ({ inputs, backend, attrs }) => {
  const tensors = inputs as unknown as TensorInfo[];
  const { hyper } = attrs as unknown as { hyper: number[] };
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccAdamW} needs the wasm SIMD helpers`);
  const count = tensors.length / 4;
  if (!Number.isInteger(count) || hyper.length !== count * ADAMW_HYPER.length)
    throw new Error(
      `${PhccAdamW}: needs param, grad, m, v per parameter and ${ADAMW_HYPER.length} scalars each`,
    );
  for (let p = 0; p < count; p++) {
    const [param, ...rest] = tensors.slice(4 * p, 4 * p + 4);
    rest.forEach((t, i) => {
      if (sizeOf(t) !== sizeOf(param) || t.dtype !== 'float32')
        throw new Error(
          `${PhccAdamW}: parameter ${p}'s ${['grad', 'm', 'v'][i]} must be float32 with its ${sizeOf(param)} values`,
        );
    });
  }
  const ops = new WasmOps(backend);
  const outs = Array.from({ length: count }, (_, p) => ops.empty(tensors[4 * p].shape));
  // Every parameter's float64 scalars (two floats each) after whatever alignment the heap gives:
  // wasm's f64.load takes any address, and a DataView writes them without an alignment rule.
  const block = ops.empty([2 * hyper.length]);
  const at = ops.pointer(block);
  const view = new DataView(ops.view(block).buffer);
  hyper.forEach((value, i) => view.setFloat64(at + 8 * i, value, true));
  for (let p = 0; p < count; p++) {
    const [param, grad, m, v] = tensors.slice(4 * p, 4 * p + 4).map((t) => ops.pointer(t));
    const size = sizeOf(tensors[4 * p]);
    helpers.adamwUpdate(param, grad, m, v, ops.pointer(outs[p]), size, at + 8 * ADAMW_HYPER.length * p);
  }
  return ops.finishAll(outs);
};

export const phccAdamWConfig: ReplacementKernelConfig = {
  kernelName: PhccAdamW,
  backendName: 'wasm',
  kernelFunc: adamwSteps,
};
