import type { backend_util } from '@tensorflow/tfjs-core';

/** The attrs tfjs passes to every (depthwise) conv kernel and its backprops, as our kernels read them. */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: backend_util.ExplicitPadding | 'same' | 'valid' | number;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
}
