import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../../../libs/common/src';
import { parsePlanText, PlanError, validatePlan } from '../run-plan';

const quick = () =>
  parsePlanText(readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8')) as Record<string, unknown>;

describe('run plan phases', () => {
  it('carries the DCE phases the model takes', () => {
    const plan = validatePlan({ ...quick(), phases: ['pre', 'arterial', 'portal_venous', 'delayed'] });
    expect(plan.phases).toEqual(['pre', 'arterial', 'portal_venous', 'delayed']);
    expect(validatePlan(quick()).phases).toBeUndefined();
  });

  it('refuses an empty list and bad names, naming the field', () => {
    for (const phases of [[], ['pre', 'bad name'], 'pre']) {
      try {
        validatePlan({ ...quick(), phases });
        throw new Error('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(PlanError);
        expect((err as PlanError).problems.join('; ')).toMatch(/phase/);
      }
    }
  });
});
