import { InputError } from '../../common/src';
import { MODEL_PARTS as PROTOCOL_MODEL_PARTS, ModelPart } from '../../protocol/src/version';
import { TensorLayout, TensorPredicate, TrainingStage } from './types';

/**
 * Which sub-networks a stage trains and aggregates, and which tensors stay at the site.
 *
 * The model names every weight `<part>/<layer>/…`; the prefix is the only thing this library
 * relies on, so a model change that keeps the prefixes needs no change here.
 */
export type { ModelPart };
export const MODEL_PARTS: readonly ModelPart[] = PROTOCOL_MODEL_PARTS;

/** Stage 1 (SSL) shares encoder + decoder; stage 2 (fine-tune) shares encoder + head. */
export const STAGE_PARTS: Readonly<Record<TrainingStage, readonly ModelPart[]>> = {
  ssl: ['encoder', 'decoder'],
  finetune: ['encoder', 'head'],
};

/**
 * Default test for normalisation parameters (FedBN keeps these local): a name containing
 * `/norm`, `/ln` or `/grn` (LayerNorm, GRN of ConvNeXt-V2 blocks, e.g. `encoder/s1b0/ln/gamma`).
 * Models with other naming pass their own pattern.
 */
export const DEFAULT_NORMALISATION_PATTERN = /\/(?:norm|ln|grn)/;

export function partOf(name: string): ModelPart | undefined {
  const slash = name.indexOf('/');
  const prefix = slash < 0 ? name : name.slice(0, slash);
  return (MODEL_PARTS as readonly string[]).includes(prefix) ? (prefix as ModelPart) : undefined;
}

/** Predicate for the tensors a site trains and uploads in a stage, minus those kept local. */
export function uploadPredicate(parts: readonly ModelPart[], keepLocal: RegExp | null): TensorPredicate {
  return (name) => {
    const part = partOf(name);
    if (part === undefined || !parts.includes(part)) return false;
    return keepLocal === null || !keepLocal.test(name);
  };
}

/** The subset of the global layout that a stage's updates must carry, in the global's order. */
export function uploadLayout(
  globalLayout: readonly TensorLayout[],
  parts: readonly ModelPart[],
  keepLocal: RegExp | null,
): TensorLayout[] {
  const wanted = uploadPredicate(parts, keepLocal);
  return globalLayout.filter((t) => wanted(t.name));
}

/** Rebuilds a keep-local pattern sent in an instruction (its `RegExp.source`). */
export function keepLocalFromSource(source: string | null): RegExp | null {
  if (source === null) return null;
  try {
    return new RegExp(source);
  } catch (err) {
    throw new InputError(
      `keep-local pattern "${source}" is not a valid regular expression: ${(err as Error).message}`,
    );
  }
}

/**
 * Only a pattern's source travels to the sites, so a flag would be lost on the way (and `g`/`y`
 * would make `test` stateful): patterns must have none.
 */
export function assertFlaglessPattern(pattern: RegExp | null, field: string): void {
  if (pattern && pattern.flags !== '') {
    throw new InputError(
      `${field} must be a regular expression without flags (got /${pattern.source}/${pattern.flags})`,
    );
  }
}
