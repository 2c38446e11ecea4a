import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { ModelConfig, featureGrid, modelConfig, validateModelConfig } from './config';
import { applyDecoder, defineDecoder } from './decoder';
import { applyEncoder, applyFinalNorm, defineEncoder } from './encoder';
import { applyHead, defineHead, poolFeatures } from './head';
import { MaskPyramid } from './mask';
import { ParamStore } from './params';

/**
 * The pHCC-SSL network: one ParamStore holding encoder, FCMAE decoder and attention head, plus
 * the forward passes the training stages and Grad-CAM need. Weights are created in a fixed order
 * from one seed, so the same (config, seed) gives bit-identical initial weights everywhere.
 */
export class PhccModel {
  readonly params = new ParamStore();

  constructor(
    readonly config: ModelConfig,
    seed = 0,
  ) {
    validateModelConfig(config);
    const rng = new Rng(seed);
    // Separate streams per part: adding a head layer must not change the encoder's init.
    const encoderRng = rng.fork();
    const decoderRng = rng.fork();
    const headRng = rng.fork();
    defineEncoder(this.params, config, encoderRng);
    defineDecoder(this.params, config, decoderRng);
    defineHead(this.params, config, headRng);
  }

  static create(overrides: Partial<ModelConfig> = {}, seed = 0): PhccModel {
    return new PhccModel(modelConfig(overrides), seed);
  }

  get grid(): number {
    return featureGrid(this.config);
  }

  /** Phase images [N, S, S, C] → last-stage features [N, G, G, C_last]; masked when `mask` is given. */
  encode(images: tf.Tensor4D, mask?: MaskPyramid): tf.Tensor4D {
    return applyEncoder(this.params, this.config, images, mask);
  }

  /** Last stage's activations before the encoder's final norm (Grad-CAM's target layer). */
  lastStage(images: tf.Tensor4D): tf.Tensor4D {
    return applyEncoder(this.params, this.config, images, undefined, { skipFinalNorm: true });
  }

  /** Logits from last-stage activations (the rest of the network after `lastStage`). */
  logitsFromLastStage(lastStage: tf.Tensor4D, images?: tf.Tensor4D, dynamicScale?: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() =>
      this.logitsFromFeatures(applyFinalNorm(this.params, lastStage), images, dynamicScale),
    );
  }

  /**
   * SSL forward: masked images → per-patch pixel predictions [N, G, G, p²·C_int], for the masked
   * patches (the ones the loss scores); the visible patches' rows are zero, not computed.
   */
  reconstruct(images: tf.Tensor4D, mask: MaskPyramid): tf.Tensor4D {
    return tf.tidy(() => applyDecoder(this.params, this.encode(images, mask), mask));
  }

  /**
   * Patients [B, T, S, S, C] → logits [B] (sigmoid → P(proliferative)). `dynamicScale` [B, T−1]:
   * each patient's dynamic-token timing factors (network/dynamic-time.ts), 1 when absent.
   */
  logits(patients: tf.Tensor5D, dynamicScale?: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const images = this.flattenPhases(patients);
      return this.logitsFromFeatures(this.encode(images), images, dynamicScale);
    });
  }

  /**
   * Head only, on features of B·T phase images (phase-major per patient): Grad-CAM's entry point.
   * `images` (those B·T images) are needed by `regions` token pooling, which reads their mask.
   */
  logitsFromFeatures(features: tf.Tensor4D, images?: tf.Tensor4D, dynamicScale?: tf.Tensor2D): tf.Tensor1D {
    return applyHead(this.params, this.config, features, images, dynamicScale);
  }

  /** Phase images [N, S, S, C] → the head's pooled features [N, R·C], before centring. */
  pooledFeatures(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => poolFeatures(this.config, this.encode(images), images));
  }

  flattenPhases(patients: tf.Tensor5D): tf.Tensor4D {
    const [b, t, s, , c] = patients.shape;
    if (t !== this.config.phases || s !== this.config.imageSize || c !== this.config.inChannels) {
      throw new Error(
        `input [${patients.shape}] does not match the model's [B, ${this.config.phases}, ` +
          `${this.config.imageSize}, ${this.config.imageSize}, ${this.config.inChannels}]`,
      );
    }
    return tf.reshape(patients, [b * t, s, s, c]);
  }

  dispose(): void {
    this.params.dispose();
  }
}
