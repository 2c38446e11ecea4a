import { phaseTimingProblem } from './phase-timing';

const NAMES = ['pre', 'arterial', 'portal_venous', 'delayed'];
const NOMINAL = [0, 35, 70, 180];

describe('phaseTimingProblem: the cohort against the model’s phase protocol', () => {
  it('accepts a cohort near the nominal times, and says nothing without times', () => {
    expect(phaseTimingProblem(NAMES, NOMINAL, [[0, 30, 75, 200], [0, 40, 65, 170], null])).toBeUndefined();
    expect(phaseTimingProblem(NAMES, undefined, [[0, 300, 600, 1200]])).toBeUndefined();
    expect(phaseTimingProblem(NAMES, NOMINAL, [null, undefined])).toBeUndefined();
  });

  it('names each phase whose median is off, with the tolerance', () => {
    // A site whose "arterial" is its portal venous phase and whose last is hepatobiliary.
    const problem = phaseTimingProblem(NAMES, NOMINAL, [
      [0, 70, 180, 1200],
      [0, 72, 180, 1200],
      [0, 35, 70, 180], // one patient on protocol does not hide the rest
    ]);
    expect(problem).toBe(
      "the cohort's phase times do not match the model's protocol (median of 3 patients with times): " +
        "arterial at 70 s (the model's is 35 s ± 30); portal_venous at 180 s (the model's is 70 s ± 35); " +
        "delayed at 1200 s (the model's is 180 s ± 90)",
    );
  });

  it('one odd patient does not stop a site', () => {
    expect(
      phaseTimingProblem(NAMES, NOMINAL, [
        [0, 35, 70, 180],
        [0, 35, 70, 180],
        [0, 90, 300, 900],
      ]),
    ).toBeUndefined();
  });
});
