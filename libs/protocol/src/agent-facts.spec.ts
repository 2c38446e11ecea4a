import { AGENT_COHORT_QUERY, AGENT_VERSION_QUERY, agentFactsOf, agentQuery } from './agent-facts';
import { minorVersionOf } from './compat';

describe('agent facts in the connection query', () => {
  it('round-trips what an agent reports, with its protocol minor version', () => {
    const facts = {
      version: '0.1.0',
      backend: 'wasm',
      cohort: { train: 80, val: 12, test: 28, labelled: 70 },
    };
    const query = agentQuery(1, facts);
    expect(minorVersionOf(query)).toBe(1);
    expect(agentFactsOf(query)).toEqual(facts);
  });

  it('reports no cohort unless the site chose to', () => {
    expect(agentFactsOf(agentQuery(1, { version: '0.1.0', backend: 'cpu' }))).toEqual({
      version: '0.1.0',
      backend: 'cpu',
    });
  });

  it('drops malformed or implausible values instead of refusing the connection', () => {
    expect(agentFactsOf({ [AGENT_VERSION_QUERY]: 'x'.repeat(100) })).toEqual({});
    expect(agentFactsOf({ [AGENT_VERSION_QUERY]: '<script>' })).toEqual({});
    expect(agentFactsOf({ [AGENT_COHORT_QUERY]: 'train:1,val:2,test:3' })).toEqual({});
    expect(agentFactsOf({ [AGENT_COHORT_QUERY]: 'train:1,val:2,test:-3,labelled:1' })).toEqual({});
    expect(agentFactsOf({ [AGENT_COHORT_QUERY]: 'train:1e9,val:2,test:3,labelled:1' })).toEqual({});
    expect(agentFactsOf(undefined)).toEqual({});
  });
});
