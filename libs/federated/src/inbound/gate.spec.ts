import { tensor } from '../__tests__/harness';
import { IncomingUpdate, UpdateEntry } from '../types';
import {
  checkFinite,
  checkKind,
  checkNamesAndShapes,
  checkNormBound,
  checkSampleCount,
  medianOf,
} from './checks';
import { UpdateGate } from './gate';

const layout = [
  { name: 'encoder/w', shape: [2, 2] },
  { name: 'encoder/b', shape: [2] },
];

function update(overrides: Partial<IncomingUpdate> = {}): IncomingUpdate {
  return {
    siteId: 'a',
    kind: 'delta',
    numSamples: 10,
    arrays: [tensor('encoder/w', [0.1, 0.2, 0.3, 0.4], [2, 2]), tensor('encoder/b', [0, 0])],
    ...overrides,
  };
}

function entry(siteId: string, deltaNorm: number): UpdateEntry {
  return { siteId, kind: 'delta', numSamples: 1, deltaNorm, metrics: {} };
}

describe('arrival checks', () => {
  it('each passes a good update', () => {
    for (const check of [
      checkSampleCount(),
      checkKind('delta'),
      checkNamesAndShapes(layout),
      checkFinite(),
    ]) {
      expect(check.check(update())).toBeUndefined();
    }
  });

  it.each([0, -1, 2.5, NaN, 1_000_001])('sample count %p is BAD_SAMPLE_COUNT', (numSamples) => {
    expect(checkSampleCount().check(update({ numSamples }))?.code).toBe('BAD_SAMPLE_COUNT');
  });

  it('a sample count above a configured bound is BAD_SAMPLE_COUNT', () => {
    expect(checkSampleCount({ max: 50 }).check(update({ numSamples: 51 }))?.code).toBe('BAD_SAMPLE_COUNT');
    expect(checkSampleCount({ max: 50 }).check(update({ numSamples: 50 }))).toBeUndefined();
  });

  it('the wrong kind is KIND_MISMATCH', () => {
    expect(checkKind('delta').check(update({ kind: 'weights' }))?.code).toBe('KIND_MISMATCH');
  });

  it('missing, unexpected and duplicated tensors are NAME_MISMATCH', () => {
    const check = checkNamesAndShapes(layout);
    const missing = check.check(update({ arrays: [tensor('encoder/w', [0, 0, 0, 0], [2, 2])] }));
    expect(missing).toEqual({ code: 'NAME_MISMATCH', reason: 'missing tensor "encoder/b"' });
    const extra = check.check(update({ arrays: [...update().arrays, tensor('decoder/x', [1])] }));
    expect(extra).toEqual({ code: 'NAME_MISMATCH', reason: 'unexpected tensor "decoder/x"' });
    const twice = check.check(update({ arrays: [...update().arrays, tensor('encoder/b', [0, 0])] }));
    expect(twice?.code).toBe('NAME_MISMATCH');
  });

  it('a wrong shape, or values that do not fill it, is SHAPE_MISMATCH', () => {
    const check = checkNamesAndShapes(layout);
    const transposed = check.check(
      update({ arrays: [tensor('encoder/w', [0, 0, 0, 0], [4, 1]), tensor('encoder/b', [0, 0])] }),
    );
    expect(transposed).toEqual({
      code: 'SHAPE_MISMATCH',
      reason: 'tensor "encoder/w" has shape [4, 1], expected [2, 2]',
    });
    const short = check.check(
      update({ arrays: [tensor('encoder/w', [0, 0, 0], [2, 2]), tensor('encoder/b', [0, 0])] }),
    );
    expect(short?.code).toBe('SHAPE_MISMATCH');
  });

  it.each([NaN, Infinity, -Infinity])('%p is NON_FINITE and the reason names where', (bad) => {
    const failure = checkFinite().check(
      update({ arrays: [tensor('encoder/w', [0, 0, bad, 0], [2, 2]), tensor('encoder/b', [0, 0])] }),
    );
    expect(failure).toEqual({ code: 'NON_FINITE', reason: `tensor "encoder/w" has ${bad} at index 2` });
  });
});

it('opposite infinities in a long tensor are still NON_FINITE', () => {
  const values = new Array(4003).fill(0.5);
  values[1000] = Infinity;
  values[4002] = -Infinity;
  const failure = checkFinite().check(
    update({ arrays: [tensor('encoder/w', [0, 0, 0, 0], [2, 2]), tensor('encoder/b', values)] }),
  );
  expect(failure).toEqual({ code: 'NON_FINITE', reason: 'tensor "encoder/b" has Infinity at index 1000' });
});

describe('checkNormBound', () => {
  it('refuses norms above factor × the median and passes the rest', () => {
    const failures = checkNormBound({ factor: 3 }).screen([
      entry('a', 1),
      entry('b', 1.2),
      entry('c', 0.9),
      entry('d', 3.7),
      entry('e', 2.9),
    ]);
    // median 1.2 → bound 3.6: only d.
    expect([...failures.keys()]).toEqual(['d']);
    expect(failures.get('d')?.code).toBe('NORM_OUTLIER');
  });

  it('applies the relative bound only with enough updates, and the absolute bound always', () => {
    expect(checkNormBound().screen([entry('a', 1), entry('b', 100)]).size).toBe(0);
    const absolute = checkNormBound({ absolute: 50 }).screen([entry('a', 1), entry('b', 100)]);
    expect([...absolute.keys()]).toEqual(['b']);
    expect(absolute.get('b')?.reason).toMatch(/absolute bound 50/);
  });

  it('validates its options', () => {
    expect(() => checkNormBound({ factor: 1 })).toThrow(/factor/);
    expect(() => checkNormBound({ minUpdates: 0 })).toThrow(/minUpdates/);
    expect(() => checkNormBound({ absolute: -1 })).toThrow(/absolute/);
  });

  it('medianOf handles odd and even counts', () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('UpdateGate', () => {
  it('admits a good update with its delta norm and refuses a second one from the same site', () => {
    const gate = new UpdateGate({ expectedLayout: layout, expectedKind: 'delta' });
    const first = gate.admit(update({ metrics: { loss: 0.5 } }));
    expect(first.admitted).toBe(true);
    if (first.admitted) {
      expect(first.entry).toMatchObject({ siteId: 'a', numSamples: 10, metrics: { loss: 0.5 } });
      expect(first.entry.deltaNorm).toBeCloseTo(Math.sqrt(0.01 + 0.04 + 0.09 + 0.16), 6);
    }
    expect(gate.admit(update())).toMatchObject({
      admitted: false,
      rejection: { code: 'DUPLICATE_UPDATE', siteId: 'a' },
    });
  });

  it('measures a full-weights update against the global', () => {
    const global = [
      tensor('encoder/w', [1, 1, 1, 1], [2, 2]),
      tensor('encoder/b', [0, 0]),
      tensor('head/x', [5]),
    ];
    const gate = new UpdateGate({ expectedLayout: layout, expectedKind: 'weights', global });
    const admission = gate.admit(
      update({
        kind: 'weights',
        arrays: [tensor('encoder/w', [1, 1, 4, 1], [2, 2]), tensor('encoder/b', [0, 4])],
      }),
    );
    expect(admission.admitted && admission.entry.deltaNorm).toBe(5);
    expect(() => new UpdateGate({ expectedLayout: layout, expectedKind: 'weights' })).toThrow(/global/);
  });

  it('runs the checks in order and reports which one refused', () => {
    const gate = new UpdateGate({ expectedLayout: layout, expectedKind: 'delta' });
    expect(gate.arrivalChecks.map((c) => c.name)).toEqual([
      'sample-count',
      'kind',
      'names-and-shapes',
      'finite',
    ]);
    // Both the sample count and the values are bad: the first check in the list reports.
    const admission = gate.admit(
      update({
        numSamples: 0,
        arrays: [tensor('encoder/w', [NaN, 0, 0, 0], [2, 2]), tensor('encoder/b', [0, 0])],
      }),
    );
    expect(admission).toMatchObject({
      admitted: false,
      rejection: { check: 'sample-count', code: 'BAD_SAMPLE_COUNT' },
    });
    // A refused update does not count as the site's update: a corrected one is admitted.
    expect(gate.admit(update()).admitted).toBe(true);
  });

  it('screens the round with the norm bound, or not at all when turned off', () => {
    const entries = [entry('a', 1), entry('b', 1), entry('c', 1), entry('d', 10)];
    const screened = new UpdateGate({ expectedLayout: layout, expectedKind: 'delta' }).screen(entries);
    expect(screened.accepted.map((e) => e.siteId)).toEqual(['a', 'b', 'c']);
    expect(screened.rejected).toEqual([
      expect.objectContaining({ siteId: 'd', check: 'norm-bound', code: 'NORM_OUTLIER' }),
    ]);
    const open = new UpdateGate({ expectedLayout: layout, expectedKind: 'delta', normBound: false }).screen(
      entries,
    );
    expect(open.accepted).toHaveLength(4);
  });
});
