import { TaskBody } from '../../../libs/protocol/src';
import { phaseMismatch } from './task-phases';

const task = (phases?: { names: string[]; times?: number[] }) =>
  ({
    config: { localEpochs: 1, learningRate: 1e-3, batchSize: 2, ...(phases && { phases }) },
  }) as unknown as TaskBody;

const FOUR = { names: ['pre', 'arterial', 'portal_venous', 'delayed'], times: [0, 35, 70, 180] };

describe('phaseMismatch: the plan’s phases against the site’s model', () => {
  it('accepts the same phases, and tasks or sites that name none', () => {
    expect(phaseMismatch(task(FOUR), FOUR)).toBeUndefined();
    expect(phaseMismatch(task({ names: FOUR.names }), FOUR)).toBeUndefined();
    expect(phaseMismatch(task(), FOUR)).toBeUndefined();
    expect(phaseMismatch(task(FOUR), undefined)).toBeUndefined();
  });

  it('declines other phases with PHASE_MISMATCH, naming both lists', () => {
    const six = {
      names: ['pre', 'early_arterial', 'late_arterial', 'portal_venous', 'transitional', 'hepatobiliary'],
    };
    const problem = phaseMismatch(task(FOUR), six);
    expect(problem?.code).toBe('PHASE_MISMATCH');
    expect(problem?.reason).toMatch(
      /run's model takes 4 phases \(pre 0 s, arterial 35 s, .*\); this site's .* 6 phases \(pre, early_arterial/,
    );
  });

  it('declines the same names at other nominal times', () => {
    const late = { ...FOUR, times: [0, 45, 70, 180] };
    expect(phaseMismatch(task(FOUR), late)?.code).toBe('PHASE_MISMATCH');
    expect(phaseMismatch(task(FOUR), { ...FOUR, times: [0, 35.4, 70, 180] })).toBeUndefined();
  });
});
