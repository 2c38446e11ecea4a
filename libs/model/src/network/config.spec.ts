import { describePhases, modelConfig, parsePhaseSpec } from './config';

describe('model config phases', () => {
  it('reads --phases as a count, a protocol or a list of names with nominal times', () => {
    expect(parsePhaseSpec('4')).toEqual({
      phases: 4,
      phaseNames: ['pre', 'arterial', 'portal_venous', 'delayed'],
      phaseTimes: [0, 35, 70, 180],
    });
    expect(parsePhaseSpec('gadoxetate-6').phases).toBe(6);
    expect(parsePhaseSpec('3')).toEqual({ phases: 3, phaseNames: ['phase1', 'phase2', 'phase3'] });
    expect(parsePhaseSpec('pre:0, art:30, pv:75')).toEqual({
      phases: 3,
      phaseNames: ['pre', 'art', 'pv'],
      phaseTimes: [0, 30, 75],
    });
    expect(() => parsePhaseSpec('pre,pre')).toThrow('phase names repeat');
    expect(() => parsePhaseSpec('pre:0,art')).toThrow('give a time for every phase or for none');
    expect(() => parsePhaseSpec('40')).toThrow('a phase count must be 1 to 16');
  });

  it('checks names and times against the phase count', () => {
    const four = modelConfig(parsePhaseSpec('extracellular-4'));
    expect(describePhases(four)).toBe('4 phases (pre, arterial, portal_venous, delayed)');
    expect(() => modelConfig({ phases: 4, phaseNames: ['a', 'b'] })).toThrow(
      /phaseNames must be 4 non-empty names/,
    );
    expect(() => modelConfig({ phases: 2, phaseTimes: [60, 0] })).toThrow(/must not decrease/);
    expect(describePhases(modelConfig())).toBe('6 phases');
  });
});
