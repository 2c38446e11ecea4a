import { cloneArrays, layoutOf } from '../../../weights/src';
import { tensor, valuesOf } from '../__tests__/harness';
import { UpdateGate } from '../inbound/gate';
import { applyOutgoing } from '../outbound/outgoing';
import { siteOutgoingFilters } from '../outbound/chain';
import { DEFAULT_NORMALISATION_PATTERN } from '../parts';
import { NamedArray, TensorPredicate, UpdateEntry, UpdateSource } from '../types';
import { FedBN } from './fedbn';

/** A source that records every tensor name the strategy asked about and every one it returned. */
class RecordingSource implements UpdateSource {
  readonly returned: string[] = [];
  constructor(
    private readonly admitted: UpdateEntry[],
    private readonly stored: Map<string, NamedArray[]>,
  ) {}
  entries() {
    return this.admitted;
  }
  async read(siteId: string, wanted: TensorPredicate) {
    const all = this.stored.get(siteId) ?? [];
    const chosen = all.filter((a) => wanted(a.name));
    this.returned.push(...chosen.map((a) => a.name));
    return cloneArrays(chosen);
  }
}

describe('FedBN', () => {
  const global = [
    tensor('encoder/b0/dw/kernel', [1, 2]),
    tensor('encoder/b0/ln/gamma', [1, 1]),
    tensor('encoder/b0/grn/beta', [0, 0]),
    tensor('encoder/b0/norm/beta', [5]),
    tensor('decoder/b0/pw1/kernel', [3]),
    tensor('head/fc/kernel', [4]),
  ];
  const isNorm = (name: string) => DEFAULT_NORMALISATION_PATTERN.test(name);

  it('tells sites to keep normalisation parameters and expects updates without them', () => {
    const strategy = new FedBN();
    const [instruction] = strategy.configureFit(1, { stage: 'ssl', siteIds: ['a'] });
    expect(instruction.keepLocalPattern).toBe(DEFAULT_NORMALISATION_PATTERN.source);
    expect(strategy.uploadLayout(layoutOf(global), 'ssl').map((t) => t.name)).toEqual([
      'encoder/b0/dw/kernel',
      'decoder/b0/pw1/kernel',
    ]);
    // The site's way out drops them before anything is encoded.
    const out = applyOutgoing(
      { kind: 'weights', numSamples: 3, metrics: {}, arrays: cloneArrays(global) },
      siteOutgoingFilters({ instruction, global }),
    );
    expect(out.arrays.map((a) => a.name).sort()).toEqual(['decoder/b0/pw1/kernel', 'encoder/b0/dw/kernel']);
    expect(strategy.configureEvaluate(1, { siteIds: ['a'] })[0].keepLocalPattern).toBe(
      instruction.keepLocalPattern,
    );
  });

  it('never reads normalisation tensors from updates and never changes them in the global', async () => {
    const strategy = new FedBN();
    // Even if a store held normalisation tensors (e.g. written by a faulty agent), FedBN must not read them.
    const stored = new Map<string, NamedArray[]>([
      ['a', global.map((t) => ({ ...t, values: t.values.map(() => 1) }))],
      ['b', global.map((t) => ({ ...t, values: t.values.map(() => 3) }))],
    ]);
    const entries: UpdateEntry[] = ['a', 'b'].map((siteId) => ({
      siteId,
      kind: 'delta',
      numSamples: 1,
      deltaNorm: 1,
      metrics: {},
    }));
    const source = new RecordingSource(entries, stored);
    const result = await strategy.aggregateFit(1, {
      stage: 'ssl',
      globalLayout: layoutOf(global),
      updates: source,
      loadGlobal: async () => cloneArrays(global),
    });
    expect(source.returned.length).toBeGreaterThan(0);
    expect(source.returned.filter(isNorm)).toEqual([]);
    for (const t of global.filter((g) => isNorm(g.name)))
      expect(valuesOf(result.weights, t.name)).toEqual([...t.values]);
    // Non-normalisation tensors of the stage did move by the mean delta 2.
    expect(valuesOf(result.weights, 'encoder/b0/dw/kernel')).toEqual([3, 4]);
    expect(valuesOf(result.weights, 'decoder/b0/pw1/kernel')).toEqual([5]);
    expect(valuesOf(result.weights, 'head/fc/kernel')).toEqual([4]);
  });

  it('has the gate refuse an update that carries a normalisation tensor', () => {
    const strategy = new FedBN();
    const gate = new UpdateGate({
      expectedLayout: strategy.uploadLayout(layoutOf(global), 'ssl'),
      expectedKind: 'delta',
    });
    const admission = gate.admit({
      siteId: 'a',
      kind: 'delta',
      numSamples: 1,
      arrays: [
        tensor('encoder/b0/dw/kernel', [0, 0]),
        tensor('decoder/b0/pw1/kernel', [0]),
        tensor('encoder/b0/ln/gamma', [1, 1]),
      ],
    });
    expect(admission).toMatchObject({ admitted: false, rejection: { code: 'NAME_MISMATCH' } });
  });

  it('accepts a model-supplied normalisation pattern', () => {
    const strategy = new FedBN({ normalisationPattern: /\/bn\d*\// });
    const names = strategy.uploadLayout(
      [
        { name: 'encoder/bn1/gamma', shape: [1] },
        { name: 'encoder/ln/gamma', shape: [1] },
      ],
      'ssl',
    );
    expect(names.map((t) => t.name)).toEqual(['encoder/ln/gamma']);
    expect(() => new FedBN({ normalisationPattern: /norm/g })).toThrow(/without flags/);
  });
});
