import { InputError } from '../../../../libs/common/src';
import {
  pairsToScore,
  parseArmKinds,
  parseSslMode,
  parseStrategies,
  planArms,
  planComparisons,
  replicateSeeds,
} from './arms';

describe('compare arms', () => {
  const arms = planArms({
    kinds: ['central', 'federated', 'local'],
    ssl: 'both',
    strategies: ['fedavg', 'fedprox'],
    sites: ['a', 'b'],
  });

  it('plans every arm in a fixed order, SSL first', () => {
    expect(arms.map((a) => a.id)).toEqual([
      'central+ssl',
      'federated-fedavg+ssl',
      'federated-fedprox+ssl',
      'local-a+ssl',
      'local-b+ssl',
      'central',
      'federated-fedavg',
      'federated-fedprox',
      'local-a',
      'local-b',
    ]);
  });

  it('plans the three questions and the pairs the sites must score', () => {
    const planned = planComparisons(arms);
    expect(planned).toContainEqual({ question: 'federated − central', a: 'federated-fedprox', b: 'central' });
    expect(planned).toContainEqual({
      question: 'federated − best local',
      a: 'federated-fedavg+ssl',
      b: { bestOf: ['local-a+ssl', 'local-b+ssl'] },
    });
    expect(planned.filter((c) => c.question === 'SSL − no-SSL')).toHaveLength(5);
    const pairs = pairsToScore(planned);
    expect(pairs).toContainEqual(['federated-fedavg', 'local-b']);
    expect(new Set(pairs.map((p) => p.join('|'))).size).toBe(pairs.length);
  });

  it('plans no comparison whose arms are not trained', () => {
    const only = planArms({ kinds: ['federated'], ssl: 'on', strategies: ['fedavg'], sites: ['a'] });
    expect(planComparisons(only)).toEqual([]);
  });

  it('refuses bad options with one clear line', () => {
    expect(() => parseArmKinds('central,pooled')).toThrow(/--arms: "pooled" is not one of/);
    expect(() => parseStrategies('fedavg,fedsgd')).toThrow(InputError);
    expect(parseStrategies('fedavg,fedbn')).toEqual(['fedavg', 'fedbn']);
    expect(() => parseSslMode('maybe')).toThrow(/--ssl must be both, on or off/);
    expect(() => replicateSeeds(1, 0)).toThrow(/--seeds/);
  });

  it('gives replicate r the seed base + r, the same for every arm', () => {
    expect(replicateSeeds(7, 3)).toEqual([7, 8, 9]);
  });
});
