import { foldTokenCentres, TOKEN_CENTRE_TENSOR } from './token-centre';
import type { NamedArray, UpdateEntry } from './types';
import { InMemoryUpdateSource } from './update-source';

const array = (name: string, values: number[]): NamedArray => ({
  name,
  shape: [values.length],
  values: Float32Array.from(values),
});

const entry = (siteId: string, kind: UpdateEntry['kind'], numSamples: number): UpdateEntry => ({
  siteId,
  kind,
  numSamples,
  deltaNorm: 0,
  metrics: {},
});

describe('the token-centring round’s fold', () => {
  const global = () => [array('encoder/w', [1, 2]), array(TOKEN_CENTRE_TENSOR, [1, 1])];

  it('sets the centre to the sample-weighted mean of the sites’ centres, deltas or weights, and moves nothing else', async () => {
    // Site b sent weights (its centre is (4, 8)); site a a delta from the global's (1, 1) → (0, 0).
    const updates = new InMemoryUpdateSource(
      [entry('site-b', 'weights', 3), entry('site-a', 'delta', 1)],
      [
        ['site-a', [array('encoder/w', [50, 50]), array(TOKEN_CENTRE_TENSOR, [-1, -1])]],
        ['site-b', [array('encoder/w', [9, 9]), array(TOKEN_CENTRE_TENSOR, [4, 8])]],
      ],
    );
    const folded = await foldTokenCentres(global(), updates);
    expect(folded.sites).toEqual(['site-a', 'site-b']);
    expect(folded.patients).toBe(4);
    const byName = new Map(folded.weights.map((a) => [a.name, [...a.values]]));
    expect(byName.get(TOKEN_CENTRE_TENSOR)).toEqual([3, 6]);
    expect(byName.get('encoder/w')).toEqual([1, 2]);
  });

  it('leaves a model without a centre unchanged, and names a site whose update lacks it', async () => {
    const plain = [array('encoder/w', [1, 2])];
    const none = new InMemoryUpdateSource([entry('site-a', 'delta', 2)], [['site-a', plain]]);
    expect((await foldTokenCentres(plain, none)).weights).toBe(plain);
    await expect(foldTokenCentres(global(), none)).rejects.toThrow(
      /update of site-a has no head\/token_center/,
    );
  });
});
