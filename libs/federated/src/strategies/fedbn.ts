import { assertFlaglessPattern, DEFAULT_NORMALISATION_PATTERN } from '../parts';
import { UpdateKind } from '../types';
import { FedAvg } from './fedavg';

/**
 * Options of `FedBN`.
 * - `normalisationPattern` (default `DEFAULT_NORMALISATION_PATTERN`, names containing `/norm`,
 *   `/ln` or `/grn`): which tensors are normalisation parameters, supplied by the model.
 * - `updateKind` (default 'delta').
 */
export interface FedBNOptions {
  normalisationPattern?: RegExp;
  updateKind?: UpdateKind;
}

/**
 * FedBN (Li et al. 2021, "FedBN: Federated Learning on Non-IID Features via Local Batch
 * Normalization"): FedAvg on everything except normalisation parameters, which never leave the
 * site and are never averaged. Scanner and protocol differences between hospitals show up as
 * feature-distribution shifts; local normalisation absorbs them.
 *
 * Enforced three times: instructions tell sites not to send them, the gate's expected layout
 * refuses an update that carries them, and the fold never reads them from the update source.
 * The global copy of these tensors keeps its initial values (sites use their own).
 */
export class FedBN extends FedAvg {
  override readonly name: string = 'fedbn';

  constructor(options: FedBNOptions = {}) {
    const pattern = options.normalisationPattern ?? DEFAULT_NORMALISATION_PATTERN;
    assertFlaglessPattern(pattern, 'normalisationPattern');
    super({ updateKind: options.updateKind, keepLocal: pattern });
  }
}
