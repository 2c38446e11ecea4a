import { TaskBody } from '../../../libs/protocol/src';
import { phaseMismatch } from './task-phases';

const task = (phases?: { names: string[]; times?: number[] }) =>
  ({
    config: { localEpochs: 1, learningRate: 1e-3, batchSize: 2, ...(phases && { phases }) },
  }) as unknown as TaskBody;

const FOUR = { names: ['pre', 'arterial', 'portal_venous', 'delayed'], times: [0, 35, 70, 180] };
const SITE_FOUR = { count: 4, ...FOUR };

describe('phaseMismatch: the plan’s phases against the site’s model', () => {
  it('accepts the same phases, and tasks or sites that name none', () => {
    expect(phaseMismatch(task(FOUR), SITE_FOUR)).toBeUndefined();
    expect(phaseMismatch(task({ names: FOUR.names }), SITE_FOUR)).toBeUndefined();
    expect(phaseMismatch(task(FOUR), { count: 4 })).toBeUndefined();
    expect(phaseMismatch(task(), SITE_FOUR)).toBeUndefined();
    expect(phaseMismatch(task(FOUR), undefined)).toBeUndefined();
  });

  it('declines other phases with PHASE_MISMATCH, naming both lists', () => {
    const six = {
      count: 6,
      names: ['pre', 'early_arterial', 'late_arterial', 'portal_venous', 'transitional', 'hepatobiliary'],
    };
    const problem = phaseMismatch(task(FOUR), six);
    expect(problem?.code).toBe('PHASE_MISMATCH');
    expect(problem?.reason).toMatch(
      /run's model takes 4 phases \(pre 0 s, arterial 35 s, .*\); this site's .* 6 phases \(pre, early_arterial/,
    );
  });

  it('declines another count even when the site does not name its phases', () => {
    expect(phaseMismatch(task(FOUR), { count: 6 })?.reason).toMatch(
      /this site's model and cohort were loaded for 6 phases:/,
    );
  });

  it('declines the same names at other nominal times', () => {
    const late = { ...SITE_FOUR, times: [0, 45, 70, 180] };
    expect(phaseMismatch(task(FOUR), late)?.code).toBe('PHASE_MISMATCH');
    expect(phaseMismatch(task(FOUR), { ...SITE_FOUR, times: [0, 35.4, 70, 180] })).toBeUndefined();
  });
});
