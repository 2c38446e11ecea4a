import { Rng } from '../../common/src';
import { encodeWeights, layoutOf, weightsDigest } from '../../weights/src';
import { UpdateGate } from './inbound/gate';
import { simulatedLayout, simulatedWeights } from './simulate';
import { createStrategy, StrategySpec } from './strategies/registry';
import { EncodedUpdateSource } from './update-source';
import { NamedArray, UpdateEntry } from './types';

/** A whole coordinator round: gate on arrival → blob store → screen → fold → encode + digest. */
async function roundDigest(
  spec: StrategySpec,
  global: NamedArray[],
  arrivals: [string, number, NamedArray[]][],
) {
  const strategy = createStrategy(spec);
  const globalLayout = layoutOf(global);
  const gate = new UpdateGate({
    expectedLayout: strategy.uploadLayout(globalLayout, 'ssl'),
    expectedKind: 'delta',
  });
  const blobs = new Map<string, Buffer>();
  const entries: UpdateEntry[] = [];
  const refused: string[] = [];
  for (const [siteId, numSamples, arrays] of arrivals) {
    const admission = gate.admit({ siteId, kind: 'delta', numSamples, arrays });
    if (!admission.admitted) {
      refused.push(`${siteId}:${admission.rejection.code}`);
      continue;
    }
    entries.push(admission.entry);
    blobs.set(siteId, encodeWeights(arrays));
  }
  const { accepted, rejected } = gate.screen(entries);
  refused.push(...rejected.map((r) => `${r.siteId}:${r.code}`));
  const result = await strategy.aggregateFit(1, {
    stage: 'ssl',
    globalLayout,
    updates: new EncodedUpdateSource(accepted, (siteId) => blobs.get(siteId) as Buffer),
    loadGlobal: async () =>
      global.map((t) => ({ ...t, shape: [...t.shape], values: new Float32Array(t.values) })),
  });
  return {
    digest: weightsDigest(encodeWeights(result.weights)),
    refused: refused.sort(),
    sites: result.sites,
  };
}

describe('a coordinator round', () => {
  const layout = simulatedLayout(30_000, 8);
  const rng = new Rng(11);
  const global = simulatedWeights(layout, rng);
  /** Six good sites, one whose delta is ~50× the others', one with a NaN. */
  function arrivals(spec: StrategySpec) {
    const uploaded = createStrategy(spec).uploadLayout(layout, 'ssl');
    const updates = new Rng(5);
    const good: [string, number, NamedArray[]][] = Array.from({ length: 6 }, (_, i) => [
      `site-${i}`,
      5 + 3 * i,
      simulatedWeights(uploaded, updates.fork(), 0.01 * (1 + (i % 3))),
    ]);
    const outlier: [string, number, NamedArray[]] = [
      'site-x',
      10,
      simulatedWeights(uploaded, updates.fork(), 1),
    ];
    const poisoned = simulatedWeights(uploaded, updates.fork(), 0.01);
    poisoned[3].values[7] = NaN;
    return { good, bad: [outlier, ['site-n', 10, poisoned] as [string, number, NamedArray[]]] };
  }

  it.each(['fedavg', 'fedbn', 'fedadam'] as const)(
    '%s: same updates, any arrival order → same digest; bad ones refused',
    async (name) => {
      const spec = { name } as StrategySpec;
      const { good, bad } = arrivals(spec);
      const [outlier, nonFinite] = bad;
      const reference = await roundDigest(spec, global, [...good, outlier, nonFinite]);
      expect(reference.refused).toEqual(['site-n:NON_FINITE', 'site-x:NORM_OUTLIER']);
      expect(reference.sites).toEqual(good.map(([id]) => id));
      for (let trial = 0; trial < 3; trial++) {
        const shuffled = await roundDigest(
          spec,
          global,
          new Rng(trial).shuffle([...good, outlier, nonFinite]),
        );
        expect(shuffled.digest).toBe(reference.digest);
      }
      // The refused updates really were left out: aggregating only the good ones gives the same model.
      expect((await roundDigest(spec, global, good)).digest).toBe(reference.digest);
    },
  );
});
