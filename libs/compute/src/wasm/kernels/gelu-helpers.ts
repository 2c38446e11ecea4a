import type { SimdHelpers } from '../simd/helpers';

/**
 * Which SIMD GELU pair the GELU kernels call (simd/gelu-wat.ts): the σ-form helpers of issue #19,
 * or with `PHCC_FAST_GELU=0` (or `fast` set false, as `bench model` does to time both in one
 * process) the previous tanh-form ones. Both compute the same tanh-form GELU, to float32 rounding.
 */
export const fastGeluSwitch = { fast: process.env.PHCC_FAST_GELU !== '0' };

/** The helpers the GELU kernels call (signatures in simd/helpers.ts). */
export type GeluCalls = Pick<
  SimdHelpers,
  | 'geluForward'
  | 'geluBackward'
  | 'geluForwardRows'
  | 'geluBackwardRows'
  | 'geluForwardTanh'
  | 'geluBackwardTanh'
>;

/** The forward and gradient passes the switch selects. */
export function geluPasses(helpers: GeluCalls): {
  forward: SimdHelpers['geluForward'];
  backward: SimdHelpers['geluBackward'];
} {
  return fastGeluSwitch.fast
    ? { forward: helpers.geluForward, backward: helpers.geluBackward }
    : { forward: helpers.geluForwardTanh, backward: helpers.geluBackwardTanh };
}
