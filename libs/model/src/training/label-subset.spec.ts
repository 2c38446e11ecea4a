import { keepLabelFraction } from './label-subset';
import { PatientSample } from './types';

function cohort(site: string, positives: number, negatives: number, unlabelled = 0): PatientSample[] {
  const x = new Float32Array(1);
  const out: PatientSample[] = [];
  for (let i = 0; i < positives + negatives + unlabelled; i++) {
    const label = i < positives ? 1 : i < positives + negatives ? 0 : null;
    out.push({ id: `${site}/P${String(i).padStart(3, '0')}`, label, split: 'train', x });
  }
  return out;
}

const siteOf = (s: PatientSample) => s.id.split('/')[0];
const labelledIds = (samples: PatientSample[]) => samples.filter((s) => s.label !== null).map((s) => s.id);

describe('keepLabelFraction', () => {
  const samples = [...cohort('site-a', 20, 60, 5), ...cohort('site-b', 45, 35)];

  it('keeps the fraction per site and class, so each site keeps its prevalence', () => {
    const { samples: out, report } = keepLabelFraction(samples, 0.3, { groupOf: siteOf });
    expect(report.strata).toEqual({
      'site-a/0': '18/60',
      'site-a/1': '6/20',
      'site-b/0': '11/35',
      'site-b/1': '14/45',
    });
    expect(report.labelledBefore).toBe(160);
    expect(report.labelledAfter).toBe(49);
    expect(labelledIds(out)).toHaveLength(49);
    // Nothing is lost: the others stay, unlabelled, for SSL; labels that stay are unchanged.
    expect(out).toHaveLength(samples.length);
    out.forEach((s, i) => {
      expect(s.id).toBe(samples[i].id);
      if (s.label !== null) expect(s.label).toBe(samples[i].label);
    });
  });

  it('depends on the ids only: same subset from a shuffled list, and 30 % ⊂ 60 %', () => {
    const a = labelledIds(keepLabelFraction(samples, 0.3, { groupOf: siteOf }).samples).sort();
    const shuffled = [...samples].reverse();
    const b = labelledIds(keepLabelFraction(shuffled, 0.3, { groupOf: siteOf }).samples).sort();
    expect(b).toEqual(a);
    const wider = new Set(labelledIds(keepLabelFraction(samples, 0.6, { groupOf: siteOf }).samples));
    expect(a.every((id) => wider.has(id))).toBe(true);
    const otherSalt = labelledIds(keepLabelFraction(samples, 0.3, { groupOf: siteOf, salt: 'x' }).samples);
    expect(otherSalt.sort()).not.toEqual(a);
  });

  it('keeps at least one patient of each class a site has, and everything at 1', () => {
    const small = cohort('s', 2, 3);
    expect(labelledIds(keepLabelFraction(small, 0.05).samples)).toHaveLength(2);
    expect(keepLabelFraction(samples, 1).samples).toEqual(samples);
  });

  it('refuses a fraction outside (0, 1]', () => {
    expect(() => keepLabelFraction(samples, 0)).toThrow(/labelled fraction must be in \(0, 1\]/);
    expect(() => keepLabelFraction(samples, 1.5)).toThrow(/got 1.5/);
    expect(() => keepLabelFraction(samples, NaN)).toThrow(/got NaN/);
  });
});
