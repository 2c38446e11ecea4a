import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadPairedReference, referenceCsvPath } from '../../../../libs/metrics/src/__tests__/brute-force';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

const roc = (...args: string[]) => runCliCaptured(['roc', ...args]);

const lastJson = lastJsonLine;

describe('phcc-fed roc', () => {
  const csv = referenceCsvPath();
  const { expected } = loadPairedReference();

  it('prints AUC, CI, counts and Youden; --json last line has the documented keys (pROC values)', async () => {
    const r = await roc('--csv', csv, '--label', 'y', '--score', 'a', '--json');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('AUC               0.5397   95 % CI 0.4003 – 0.6792');
    expect(r.stdout).toContain('37 positive');
    const j = lastJson(r.stdout);
    expect(j.auc as number).toBeCloseTo(expected.a.auc, 11);
    const ci = j.ci95 as number[];
    expect(ci[0]).toBeCloseTo(expected.a.ci95[0], 11);
    expect(ci[1]).toBeCloseTo(expected.a.ci95[1], 11);
    expect(j).toMatchObject({ n_pos: 37, n_neg: 33 });
  });

  it('--compare adds auc1, auc2, z and p of the paired DeLong test', async () => {
    const r = await roc('--csv', csv, '--label', 'y', '--score', 'a', '--compare', 'b', '--json');
    const j = lastJson(r.stdout);
    expect(j.auc1 as number).toBeCloseTo(expected.a.auc, 11);
    expect(j.auc2 as number).toBeCloseTo(expected.b.auc, 11);
    expect(j.z as number).toBeCloseTo(expected.paired_delong_a_vs_b.z, 10);
    expect(j.p as number).toBeCloseTo(expected.paired_delong_a_vs_b.p, 10);
    expect(r.stdout).toContain('z                 -1.3410');
  });

  it('--unpaired uses the unpaired DeLong test; --bootstrap is seeded', async () => {
    const r = await roc(
      '--csv',
      csv,
      '--label',
      'y',
      '--score',
      'a',
      '--compare',
      'b',
      '--unpaired',
      '--bootstrap',
      '200',
      '--json',
    );
    const j = lastJson(r.stdout);
    expect(j.test).toBe('delong-unpaired');
    expect(j.z as number).toBeCloseTo(expected.unpaired_delong_a_vs_b.d, 10);
    expect(j.p as number).toBeCloseTo(expected.unpaired_delong_a_vs_b.p, 10);
    const again = lastJson(
      (await roc('--csv', csv, '--label', 'y', '--score', 'a', '--bootstrap', '200', '--json')).stdout,
    );
    expect(again.bootstrap).toEqual(j.bootstrap);
  });

  it("--direction '>' with --positive 0 describes the same curve from the other side", async () => {
    const j = lastJson(
      (
        await roc(
          '--csv',
          csv,
          '--label',
          'y',
          '--score',
          'a',
          '--positive',
          '0',
          '--direction',
          '>',
          '--json',
        )
      ).stdout,
    );
    expect(j.auc as number).toBeCloseTo(expected.a.auc, 12);
    expect(j).toMatchObject({ n_pos: 33, n_neg: 37 });
  });

  it('--calibration adds Brier score, calibration-in-the-large and slope for probabilities', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phcc-roc-cal-'));
    const file = path.join(dir, 'p.csv');
    // two score groups: 0.2 → 1 of 4 events, 0.8 → 3 of 4 (slope ln 3 / ln 4 by hand, see calibration.spec)
    fs.writeFileSync(file, 'y,p\n1,0.2\n0,0.2\n0,0.2\n0,0.2\n1,0.8\n1,0.8\n1,0.8\n0,0.8\n');
    try {
      const r = await roc('--csv', file, '--label', 'y', '--score', 'p', '--calibration', '--json');
      expect(r.code).toBe(0);
      const cal = lastJson(r.stdout).calibration as { brier: number; slope: number };
      expect(cal.brier).toBeCloseTo((2 * 0.64 + 6 * 0.04) / 8, 14);
      expect(cal.slope).toBeCloseTo(Math.log(3) / Math.log(4), 10);
      expect(r.stdout).toContain('calibration       Brier 0.1900');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--calibration rejects a non-probability score, naming its line', async () => {
    const r = await roc('--csv', csv, '--label', 'y', '--score', 'a', '--calibration');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/paired.csv line 2: score -0.9 in column "a" is not a probability/);
  });

  describe('bad input exits 2 with a message naming the problem', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phcc-roc-'));
    const file = (name: string, text: string): string => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, text);
      return p;
    };
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it.each([
      ['labels.csv', 'y,p\n1,0.2\n0,0.3\n2,0.4\n', [], /not binary 0\/1.*--positive/],
      ['one-class.csv', 'y,p\n1,0.2\n1,0.3\n', [], /one class only/],
      ['nan.csv', 'y,p\n1,0.2\n0,x\n1,0.1\n0,0.3\n', [], /nan.csv line 3: score "x" in column "p"/],
      ['missing.csv', 'y,p\n1,0.2\n0,0.1\n1,\n0,0.3\n', [], /missing.csv line 4: missing score/],
      ['few.csv', 'y,p\n1,0.2\n0,0.1\n0,0.3\n', [], /1 positive and 2 negative/],
      [
        'ok.csv',
        'y,p\n1,0.2\n0,0.1\n1,0.3\n0,0.3\n',
        ['--score', 'q'],
        /column "q" not found.*available columns: y, p/,
      ],
      [
        'ok2.csv',
        'y,p\n1,0.2\n0,0.1\n1,0.3\n0,0.3\n',
        ['--bootstrap', 'many'],
        /--bootstrap must be an integer/,
      ],
    ])('%s', async (name, text, extra, message) => {
      const args = ['--csv', file(name, text), '--label', 'y', '--score', 'p', ...extra];
      const r = await roc(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    });

    it('a missing required option is a usage error with exit code 2', async () => {
      const r = await roc('--csv', csv, '--label', 'y');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--score');
    });
  });
});
