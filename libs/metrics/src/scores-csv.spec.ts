import { InputError } from '../../common/src';
import { parseScoresCsv } from './scores-csv';

const opts = { label: 'y', scores: ['p'] };

describe('reading labels and scores from CSV', () => {
  it('reads 0/1 labels and scores in file order, skipping blank lines', () => {
    const t = parseScoresCsv('id,y,p\n1,1,0.9\n\n2,0,0.2\n3,0,1e-3\n4,1, 0.5 \n', 'f.csv', opts);
    expect([...t.labels]).toEqual([1, 0, 0, 1]);
    expect([...t.scores.p]).toEqual([0.9, 0.2, 0.001, 0.5]);
    expect(t).toMatchObject({ nPos: 2, nNeg: 2, rows: 4, positiveValue: '1', negativeValue: '0' });
  });

  it('maps two label values with --positive', () => {
    const t = parseScoresCsv('y,p\nHCC-P,3\nother,1\nHCC-P,2\nother,2\n', 'f.csv', {
      ...opts,
      positive: 'HCC-P',
    });
    expect([...t.labels]).toEqual([1, 0, 1, 0]);
    expect(t.negativeValue).toBe('other');
  });

  it.each([
    [
      'id,y,p\n1,1,0.9\n2,0,0.1\n',
      { ...opts, label: 'truth' },
      /column "truth" not found in f.csv; available columns: id, y, p/,
    ],
    ['y,p\n1,0.9\n0,\n1,0.4\n0,0.3\n', opts, /f.csv line 3: missing score in column "p"/],
    [
      'y,p\n1,0.9\n0,NaN\n1,0.4\n0,0.3\n',
      opts,
      /f.csv line 3: score "NaN" in column "p" is not a finite number/,
    ],
    ['y,p\n1,0.9\n0,0.1\n,0.4\n0,0.3\n', opts, /f.csv line 4: missing label in column "y"/],
    [
      'y,p\n1,0.9\n0,0.1\n2,0.4\n',
      opts,
      /not binary 0\/1: it holds "1", "0", "2"; name the positive class with --positive/,
    ],
    ['y,p\na,0.9\nb,0.1\nc,0.4\n', { ...opts, positive: 'a' }, /3 distinct values/],
    ['y,p\na,0.9\nb,0.1\n', { ...opts, positive: 'z' }, /--positive "z" does not occur/],
    ['y,p\n1,0.9\n1,0.1\n', opts, /holds one class only \(all 2 rows are 1\)/],
    ['y,p\n1,0.9\n0,0.1\n0,0.4\n', opts, /1 positive and 2 negative cases; at least 2 of each class/],
    ['y,p\n1,0.9\n0\n', opts, /not valid CSV/],
    ['', opts, /empty/],
    ['y,p\n', opts, /no data rows/],
  ])('rejects bad input clearly (%#)', (text, options, message) => {
    expect(() => parseScoresCsv(text, 'f.csv', options)).toThrow(message);
    expect(() => parseScoresCsv(text, 'f.csv', options)).toThrow(InputError);
  });
});
