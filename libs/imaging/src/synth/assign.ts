/**
 * Which patients are test patients and which training patients carry a label. Both are stratified
 * by the true class so that every site's test set has the site's prevalence and so that SSL's
 * unlabelled pool is not class-biased.
 */
import { Rng } from '../../../common/src';

export interface Assignment {
  split: 'train' | 'val' | 'test';
  /** False: the label is withheld from the manifest (self-supervision only). Test patients are always labelled. */
  labelled: boolean;
}

/**
 * Stratified split (round(n_c · testFraction) test patients per class, then round(n_c ·
 * valFraction) validation patients, all labelled) and, among training patients of each class,
 * round(n · labelledFraction) labelled ones. Validation patients come after the test ones in the
 * same shuffled order, so adding a validation split leaves every test assignment as it was.
 */
export function assignSplits(
  labels: boolean[],
  testFraction: number,
  labelledFraction: number,
  rng: Rng,
  valFraction = 0,
): Assignment[] {
  const out: Assignment[] = labels.map(() => ({ split: 'train', labelled: true }));
  for (const cls of [false, true]) {
    const members = rng.shuffle(labels.flatMap((y, i) => (y === cls ? [i] : [])));
    const nTest = Math.round(members.length * testFraction);
    members.slice(0, nTest).forEach((i) => (out[i].split = 'test'));
    const nVal = Math.round(members.length * valFraction);
    members.slice(nTest, nTest + nVal).forEach((i) => (out[i].split = 'val'));
    const train = members.slice(nTest + nVal);
    const nLabelled = Math.round(train.length * labelledFraction);
    train.slice(nLabelled).forEach((i) => (out[i].labelled = false));
  }
  return out;
}
