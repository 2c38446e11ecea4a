import type { PatientSample } from '../../../../libs/model/src/training/types';
import { withLabelledFraction } from './train-arms';

describe('compare --labelled-fraction', () => {
  const samples: PatientSample[] = Array.from({ length: 40 }, (_, i) => ({
    id: `p${i}`,
    label: (i % 2) as 0 | 1,
    split: i < 30 ? 'train' : 'test',
    x: new Float32Array(1),
  }));
  const site = { site: 'a', dir: '/a', samples, external: false };

  it('removes labels only from training patients, keeping order and the test split whole', () => {
    const half = withLabelledFraction(site, 0.5);
    expect(half.samples.map((p) => p.id)).toEqual(samples.map((p) => p.id));
    const train = half.samples.filter((p) => p.split === 'train');
    // Half of each class's 15 labels, rounded per class stratum by keepLabelFraction.
    const kept = train.filter((p) => p.label !== null).length;
    expect(kept).toBeGreaterThanOrEqual(14);
    expect(kept).toBeLessThanOrEqual(16);
    expect(train.filter((p) => p.label === null).length).toBe(30 - kept);
    expect(half.samples.filter((p) => p.split === 'test')).toEqual(samples.filter((p) => p.split === 'test'));
  });

  it('picks the same labelled patients every time (every arm and seed sees them)', () => {
    const labelled = (f: number) =>
      withLabelledFraction(site, f)
        .samples.filter((p) => p.split === 'train' && p.label !== null)
        .map((p) => p.id);
    expect(labelled(0.3)).toEqual(labelled(0.3));
    expect(withLabelledFraction(site, 1).samples).toEqual(samples);
  });
});
