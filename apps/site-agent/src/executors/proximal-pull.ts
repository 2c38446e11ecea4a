import * as tf from '@tensorflow/tfjs-core';
import { ModelPart, PhccModel } from '../../../../libs/model/src/network';

/**
 * FedProx at the site, in decoupled form: after every optimiser step each trained weight is
 * pulled toward the round's global value, w ← w − lr·μ·(w − w_global). With plain SGD this is
 * exactly the gradient step of FedProx's (μ/2)‖w − w_global‖² term; with AdamW it is applied
 * outside the adaptive scaling, like AdamW's decoupled weight decay (towards w_global instead of
 * 0). Done here, through the training loop's per-step callback, because libs/model's loops take
 * no extra loss term.
 */
export class ProximalPull {
  private readonly pairs: { variable: tf.Variable; global: tf.Tensor }[];

  constructor(
    model: PhccModel,
    parts: readonly ModelPart[],
    private readonly mu: number,
  ) {
    this.pairs =
      mu > 0
        ? model.params.variables({ parts }).map((variable) => ({ variable, global: tf.clone(variable) }))
        : [];
  }

  /** One pull with the step's learning rate; the factor is capped at 1 (never overshoots w_global). */
  apply(lr: number): void {
    if (this.pairs.length === 0) return;
    const factor = Math.min(1, lr * this.mu);
    tf.tidy(() => {
      for (const { variable, global } of this.pairs) {
        variable.assign(tf.sub(variable, tf.mul(tf.sub(variable, global), factor)));
      }
    });
  }

  dispose(): void {
    for (const { global } of this.pairs) global.dispose();
    this.pairs.length = 0;
  }
}
