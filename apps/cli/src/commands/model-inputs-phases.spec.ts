import { emptyReport } from '../../../../libs/imaging/src';
import { modelConfig, parsePhaseSpec } from '../../../../libs/model/src/network/config';
import { checkCohortPhases } from './model-inputs';

describe('checkCohortPhases', () => {
  it('names both phase counts when no DCE of the site has the phases the model takes', () => {
    const report = emptyReport('/site/manifest.csv', 2);
    report.skipped.push(
      { row: 2, patientId: 'a', reason: 'too few phases: 4 in the DCE, the model needs 6' },
      { row: 3, patientId: 'b', reason: 'too few phases: 4 in the DCE, the model needs 6' },
    );
    expect(() => checkCohortPhases(report, modelConfig(parsePhaseSpec('6')), '--cohort /site')).toThrow(
      "--cohort /site: the model takes 6 phases (pre, early_arterial, late_arterial, portal_venous, transitional, hepatobiliary) but the cohort's DCEs have 4 (2 of 2 rows); train a model with --phases 4, or use DCEs with all 6 phases",
    );
  });

  it('stays quiet when some patients loaded or rows failed for other reasons', () => {
    const report = emptyReport('/site/manifest.csv', 1);
    report.skipped.push({ row: 2, patientId: 'a', reason: 'empty mask: no voxel ≥ 0.5 in m.nii.gz' });
    expect(() => checkCohortPhases(report, modelConfig(), 'x')).not.toThrow();
  });
});
