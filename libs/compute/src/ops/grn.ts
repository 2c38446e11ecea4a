import * as tf from '@tensorflow/tfjs-core';
import { PhccGrn } from '../wasm/kernels/PhccGrn';
import { PhccGrnGrad } from '../wasm/kernels/PhccGrnGrad';
import { simdHelpers } from '../wasm/simd/helpers';
import { fusedNormSwitch } from './fused-norm-switch';

// customGrad's parameter type lists inputs and the save function in one rest array.
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];
type GrnOp = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

/** √ of the spatial sum of squares is taken of (sum + NORM_EPSILON): finite gradient at 0. */
const NORM_EPSILON = 1e-12;

const opsByEpsilon = new Map<number, { fused: GrnOp; composed: GrnOp }>();

/** The two GRN ops for one ε (customGrad fixes its inputs, so ε is bound here). */
function grnOps(epsilon: number): { fused: GrnOp; composed: GrnOp } {
  let ops = opsByEpsilon.get(epsilon);
  if (!ops) {
    ops = { fused: fusedOp(epsilon), composed: composedOp(epsilon) };
    opsByEpsilon.set(epsilon, ops);
  }
  return ops;
}

/** One kernel each way (kernels/PhccGrn.ts, PhccGrnGrad.ts). */
function fusedOp(epsilon: number): GrnOp {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, norms, denom] = tf
      .engine()
      .runKernel(PhccGrn, { x, gamma, beta }, { epsilon, normEpsilon: NORM_EPSILON }) as tf.Tensor[];
    save([x, norms, denom, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, g, d, gam] = saved;
        return tf
          .engine()
          .runKernel(PhccGrnGrad, { x: input, dy, gamma: gam, norms: g, denom: d }) as tf.Tensor[];
      },
    };
  }) as unknown as CustomGradFunc) as GrnOp;
}

/**
 * GRN from ops every backend has, with its backward in closed form: y = γ·x·n + β + x with
 * g = ‖x‖ over space per channel and n = g / (mean_c g + ε). With s = Σ_hw dy·γ·x (= ∂L/∂n) and
 * d = mean_c g + ε: ∂L/∂g = s/d − mean_c(s·g)/d², dx = dy·(γ·n + 1) + x·(∂L/∂g)/g,
 * dγ = Σ dy·x·n, dβ = Σ dy.
 */
function composedOp(epsilon: number): GrnOp {
  return tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const norms = tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2], true), NORM_EPSILON));
    const denom = tf.add(tf.mean(norms, -1, true), epsilon);
    const scale = tf.div(norms, denom);
    save([x, norms, denom, scale, gamma]);
    return {
      value: tf.add(tf.add(tf.mul(gamma, tf.mul(x, scale)), beta), x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, g, d, n, gam] = saved;
        const channels = input.shape[3] as number;
        const dyX = tf.mul(dy, input);
        const dScale = tf.mul(tf.sum(dyX, [1, 2], true), gam);
        const dNorms = tf.sub(tf.div(dScale, d), tf.div(tf.mean(tf.mul(dScale, g), -1, true), tf.square(d)));
        const dx = tf.add(tf.mul(dy, tf.add(tf.mul(gam, n), 1)), tf.mul(input, tf.div(dNorms, g)));
        const dGamma = tf.sum(tf.reshape(tf.mul(dyX, n), [-1, channels]), 0);
        const dBeta = tf.sum(tf.reshape(dy, [-1, channels]), 0);
        return [dx, dGamma, dBeta];
      },
    };
  }) as unknown as CustomGradFunc) as GrnOp;
}

/** Whether the fused kernels can run this GRN (wasm with the SIMD helpers, NHWC, channels % 4 = 0). */
export function isGrnFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  if (x.rank !== 4) return false;
  const channels = x.shape[3] as number;
  return (
    fusedNormSwitch.enabled &&
    x.dtype === 'float32' &&
    channels % 4 === 0 &&
    gamma.size === channels &&
    beta.size === channels &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccGrn, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

/**
 * Global Response Normalisation (ConvNeXt V2) on NHWC with γ, β ([C] each): one fused kernel
 * each way on wasm with the SIMD helpers, else composed from ops every backend can run.
 */
export function grn(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor4D {
  const ops = grnOps(epsilon);
  return (isGrnFused(x, gamma, beta) ? ops.fused : ops.composed)(x, gamma, beta) as tf.Tensor4D;
}
