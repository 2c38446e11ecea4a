import { Command, Option } from 'commander';
import { InputError } from '../../../../libs/common/src';
import {
  AucComparison,
  bootstrapCi,
  BootstrapResult,
  calibration,
  Calibration,
  delongPairedTest,
  delongUnpairedTest,
  Direction,
  readScoresCsv,
  rocSummary,
  RocSummary,
} from '../../../../libs/metrics/src';
import { commandLogger } from '../context';

interface RocOptions {
  csv: string;
  label: string;
  score: string;
  compare?: string;
  unpaired?: boolean;
  bootstrap?: string;
  seed: string;
  positive?: string;
  direction: Direction;
  delimiter: string;
  calibration?: boolean;
  json?: boolean;
}

/** `phcc-fed roc`: AUC with DeLong CI (and optional DeLong test / bootstrap) from a CSV. */
export function registerRoc(program: Command): void {
  program
    .command('roc')
    .summary('AUC, DeLong CI and tests from a CSV of labels and scores')
    .description(
      [
        'Reads a CSV with a header row and one row per case, and prints the AUC (Mann–Whitney, ties ½) ' +
          'with its 95 % DeLong confidence interval, the numbers of positive and negative cases and the ' +
          "Youden cut-off. With --compare: the second AUC and DeLong's test of the difference (paired: " +
          'same patients; --unpaired: independent samples, Student t as pROC). Numbers agree with R pROC.',
        'Direction: by default a HIGHER score means the POSITIVE class (pROC direction "<"). ' +
          "Use --direction '>' when a lower score means positive.",
        'Example: phcc-fed roc --csv preds.csv --label y --score p --compare q --json',
      ].join('\n\n'),
    )
    .requiredOption('--csv <file>', 'CSV file with a header row')
    .requiredOption(
      '--label <column>',
      'column with the reference standard: 0/1, or two values with --positive',
    )
    .requiredOption('--score <column>', 'column with the score (higher = positive unless --direction >)')
    .option('--compare <column>', "a second score column to compare with DeLong's test")
    .option('--unpaired', 'treat the two scores as independent samples (unpaired DeLong test)')
    .option(
      '--bootstrap <n>',
      'also give stratified bootstrap CIs (AUC, Youden sensitivity/specificity) with n replicates',
    )
    .option('--seed <n>', 'seed of the bootstrap resampling', '1')
    .option('--positive <value>', 'label value of the positive class when labels are not 0/1')
    .addOption(
      new Option('--direction <dir>', "'<': higher score = positive (default); '>': lower score = positive")
        .choices(['<', '>'])
        .default('<'),
    )
    .option('--delimiter <char>', 'field delimiter', ',')
    .option('--calibration', 'scores are probabilities: add Brier score, calibration-in-the-large and slope')
    .option(
      '--json',
      'end the output with one JSON line (auc, ci95, n_pos, n_neg, and auc1, auc2, z, p with --compare)',
    )
    .action((opts: RocOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      if (opts.compare !== undefined && opts.compare === opts.score) {
        throw new InputError(`--compare names the same column as --score ("${opts.score}")`);
      }
      if (opts.unpaired && opts.compare === undefined) {
        throw new InputError('--unpaired needs --compare <column>');
      }
      if (opts.calibration && opts.direction !== '<') {
        throw new InputError(
          "--calibration takes scores as probabilities of the positive class, so it needs --direction '<'",
        );
      }
      const replicates =
        opts.bootstrap === undefined ? undefined : positiveInteger(opts.bootstrap, '--bootstrap', 2);
      const seed = positiveInteger(opts.seed, '--seed', 0);
      const columns = opts.compare === undefined ? [opts.score] : [opts.score, opts.compare];
      const table = readScoresCsv(opts.csv, {
        label: opts.label,
        scores: columns,
        positive: opts.positive,
        delimiter: opts.delimiter,
      });
      log.debug({ rows: table.rows, nPos: table.nPos, nNeg: table.nNeg }, 'read scores');

      const summaries = columns.map((c) =>
        rocSummary(table.labels, table.scores[c], { direction: opts.direction }),
      );
      const boots = columns.map((c) =>
        replicates === undefined
          ? undefined
          : bootstrapCi(table.labels, table.scores[c], { replicates, seed, direction: opts.direction }),
      );
      const calibrations = columns.map((c) =>
        opts.calibration
          ? calibrationOf(table.labels, table.scores[c], c, table.lineNumbers, opts.csv)
          : undefined,
      );
      let comparison: AucComparison | undefined;
      if (opts.compare !== undefined) {
        const [s1, s2] = [table.scores[opts.score], table.scores[opts.compare]];
        comparison = opts.unpaired
          ? delongUnpairedTest(
              { labels: table.labels, scores: s1 },
              { labels: table.labels, scores: s2 },
              { direction: opts.direction },
            )
          : delongPairedTest(table.labels, s1, s2, { direction: opts.direction });
      }

      const out: string[] = [];
      const rule = opts.direction === '<' ? "higher score = positive ('<')" : "lower score = positive ('>')";
      out.push(
        `file                ${opts.csv} (${table.rows} cases)`,
        `label               column "${opts.label}": ${table.nPos} positive ("${table.positiveValue}"), ` +
          `${table.nNeg} negative ("${table.negativeValue}")`,
        `direction           ${rule}`,
      );
      columns.forEach((c, k) => out.push(...describeScore(c, summaries[k], boots[k], calibrations[k])));
      if (comparison && opts.compare !== undefined)
        out.push(...describeComparison(opts.score, opts.compare, comparison));
      for (const line of out) process.stdout.write(line + '\n');

      if (opts.json) {
        const first = summaries[0];
        const json: Record<string, unknown> = {
          file: opts.csv,
          label: opts.label,
          positive: table.positiveValue,
          direction: opts.direction,
          score: opts.score,
          auc: first.auc,
          ci95: first.ci,
          se: first.standardError,
          n_pos: table.nPos,
          n_neg: table.nNeg,
          youden: first.youden,
        };
        if (boots[0]) json.bootstrap = bootstrapJson(boots[0]);
        if (calibrations[0]) json.calibration = calibrations[0];
        if (comparison && opts.compare !== undefined) {
          Object.assign(json, {
            compare: opts.compare,
            test: opts.unpaired ? 'delong-unpaired' : 'delong-paired',
            auc1: comparison.auc1,
            auc2: comparison.auc2,
            ci95_2: summaries[1].ci,
            difference: comparison.difference,
            z: comparison.statistic,
            p: comparison.p,
          });
          if (comparison.df !== undefined) json.df = comparison.df;
          if (comparison.differenceCi) json.difference_ci95 = comparison.differenceCi;
          if (boots[1]) json.bootstrap2 = bootstrapJson(boots[1]);
          if (calibrations[1]) json.calibration2 = calibrations[1];
        }
        process.stdout.write(JSON.stringify(json) + '\n');
      }
    });
}

function positiveInteger(raw: string, flag: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new InputError(`${flag} must be an integer ≥ ${min} (got "${raw}")`);
  return value;
}

const fixed = (x: number, digits = 4): string => x.toFixed(digits);
const interval = (ci: [number, number], digits = 4): string =>
  `${fixed(ci[0], digits)} – ${fixed(ci[1], digits)}`;

function formatP(p: number): string {
  if (p < 1e-4) return p.toExponential(2);
  return p.toFixed(4);
}

/** Calibration needs probabilities; a score outside [0, 1] is named by its line in the file. */
function calibrationOf(
  labels: Uint8Array,
  scores: Float64Array,
  column: string,
  lineNumbers: Uint32Array,
  file: string,
): Calibration {
  const bad = scores.findIndex((s) => !(s >= 0 && s <= 1));
  if (bad >= 0) {
    throw new InputError(
      `${file} line ${lineNumbers[bad]}: score ${scores[bad]} in column "${column}" is not a probability in [0, 1]; ` +
        '--calibration needs predicted probabilities',
    );
  }
  return calibration(labels, scores);
}

function describeScore(
  column: string,
  s: RocSummary,
  boot: BootstrapResult | undefined,
  cal: Calibration | undefined,
): string[] {
  const op = s.direction === '<' ? '≥' : '≤';
  const pct = Math.round(s.confLevel * 100);
  const lines = [
    `score "${column}"`,
    `  AUC               ${fixed(s.auc)}   ${pct} % CI ${interval(s.ci)} (DeLong; SE ${fixed(s.standardError)})`,
    `  Youden cut-off    ${column} ${op} ${s.youden.threshold}: sensitivity ${fixed(s.youden.sensitivity, 3)}, ` +
      `specificity ${fixed(s.youden.specificity, 3)} (J = ${fixed(s.youden.j, 3)})`,
  ];
  if (boot) {
    lines.push(
      `  bootstrap         ${boot.replicates} stratified replicates, seed ${boot.seed}, percentile ${pct} % CIs:`,
      `    AUC             ${interval(boot.auc.ci)}`,
      `    sensitivity     ${interval(boot.sensitivity.ci, 3)} (Youden cut-off re-chosen per replicate)`,
      `    specificity     ${interval(boot.specificity.ci, 3)}`,
    );
  }
  if (cal) {
    lines.push(
      `  calibration       Brier ${fixed(cal.brier)}; in-the-large ${fixed(cal.calibrationInTheLarge, 3)} (ideal 0); ` +
        (cal.converged
          ? `slope ${fixed(cal.slope, 3)} (ideal 1), intercept ${fixed(cal.intercept, 3)}`
          : 'slope not estimable (scores constant or separating the classes)'),
    );
  }
  return lines;
}

function describeComparison(first: string, second: string, c: AucComparison): string[] {
  const lines =
    c.df === undefined
      ? [
          `DeLong's test for two correlated ROC curves (paired), "${first}" vs "${second}"`,
          `  difference        ${fixed(c.difference)} (AUC ${first} − AUC ${second})` +
            (c.differenceCi ? `, 95 % CI ${interval(c.differenceCi)}` : ''),
          `  z                 ${fixed(c.statistic)}`,
        ]
      : [
          `DeLong's test for two independent ROC curves (unpaired), "${first}" vs "${second}"`,
          `  difference        ${fixed(c.difference)} (AUC ${first} − AUC ${second})`,
          `  D                 ${fixed(c.statistic)} (Student t, df = ${fixed(c.df, 2)})`,
        ];
  lines.push(`  p (two-sided)     ${formatP(c.p)}`);
  return lines;
}

function bootstrapJson(b: BootstrapResult): Record<string, unknown> {
  return {
    replicates: b.replicates,
    seed: b.seed,
    auc_ci95: b.auc.ci,
    auc_sd: b.auc.sd,
    sensitivity: b.sensitivity.estimate,
    sensitivity_ci95: b.sensitivity.ci,
    specificity: b.specificity.estimate,
    specificity_ci95: b.specificity.ci,
  };
}
