import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'csv-parse/sync';
import { InputError } from '../../common/src';

/**
 * Reading a CSV of labels and scores (one row per patient, header row) into the arrays the
 * metrics take. Every problem is an InputError that names the file, the column and the line as
 * the user sees it in an editor (header = line 1), because that is where they will fix it.
 */
export interface ScoresCsvOptions {
  /** Column holding the reference standard. */
  label: string;
  /** Score columns to read (one or two). */
  scores: string[];
  /**
   * Label value meaning "positive". Without it labels must be 0/1; with it the column must hold
   * exactly two distinct values and the other one is the negative class.
   */
  positive?: string;
  /** Field delimiter (default ","). */
  delimiter?: string;
  /** Minimum cases per class (default 2, what a DeLong variance needs). */
  minPerClass?: number;
}

export interface ScoresTable {
  /** 1 = positive, 0 = negative, in file order. */
  labels: Uint8Array;
  /** Scores per requested column, in file order. */
  scores: Record<string, Float64Array>;
  /** Label values as written in the file. */
  positiveValue: string;
  negativeValue: string;
  nPos: number;
  nNeg: number;
  /** Data rows read (excluding the header and blank lines). */
  rows: number;
  /** Line in the file of each data row (header = line 1), for messages about a row. */
  lineNumbers: Uint32Array;
}

interface CsvRow {
  record: string[];
  info: { lines: number };
}

export function readScoresCsv(file: string, options: ScoresCsvOptions): ScoresTable {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new InputError(`cannot read ${file}: ${reason === 'ENOENT' ? 'no such file' : reason}`);
  }
  return parseScoresCsv(text, path.basename(file), options);
}

export function parseScoresCsv(text: string, fileName: string, options: ScoresCsvOptions): ScoresTable {
  const rows = parseRows(text, fileName, options.delimiter ?? ',');
  if (rows.length === 0)
    throw new InputError(`${fileName} is empty: expected a header row and one row per case`);
  const header = rows[0].record;
  const columnIndex = (name: string): number => {
    const k = header.indexOf(name);
    if (k < 0)
      throw new InputError(
        `column "${name}" not found in ${fileName}; available columns: ${header.join(', ')}`,
      );
    return k;
  };
  const labelCol = columnIndex(options.label);
  const scoreCols = options.scores.map((name) => [name, columnIndex(name)] as const);
  const data = rows.slice(1);
  if (data.length === 0) throw new InputError(`${fileName} has a header but no data rows`);

  const rawLabels = data.map((row) => {
    const value = row.record[labelCol];
    if (value === '')
      throw new InputError(`${fileName} line ${row.info.lines}: missing label in column "${options.label}"`);
    return value;
  });
  const { labels, positiveValue, negativeValue } = encodeLabels(rawLabels, fileName, options);

  const scores: Record<string, Float64Array> = {};
  for (const [name, k] of scoreCols) {
    const column = new Float64Array(data.length);
    data.forEach((row, r) => {
      const raw = row.record[k];
      if (raw === '')
        throw new InputError(`${fileName} line ${row.info.lines}: missing score in column "${name}"`);
      const value = Number(raw);
      if (!Number.isFinite(value)) {
        throw new InputError(
          `${fileName} line ${row.info.lines}: score "${raw}" in column "${name}" is not a finite number`,
        );
      }
      column[r] = value;
    });
    scores[name] = column;
  }

  let nPos = 0;
  for (const l of labels) nPos += l;
  const nNeg = labels.length - nPos;
  const minPerClass = options.minPerClass ?? 2;
  if (nPos === 0 || nNeg === 0) {
    throw new InputError(
      `column "${options.label}" in ${fileName} holds one class only (all ${labels.length} rows are ` +
        `${nPos === 0 ? negativeValue : positiveValue}); an ROC analysis needs positive and negative cases`,
    );
  }
  if (nPos < minPerClass || nNeg < minPerClass) {
    throw new InputError(
      `column "${options.label}" in ${fileName}: ${nPos} positive and ${nNeg} negative cases; ` +
        `at least ${minPerClass} of each class are needed`,
    );
  }
  const lineNumbers = Uint32Array.from(data, (row) => row.info.lines);
  return { labels, scores, positiveValue, negativeValue, nPos, nNeg, rows: data.length, lineNumbers };
}

function parseRows(text: string, fileName: string, delimiter: string): CsvRow[] {
  try {
    return parse(text, {
      bom: true,
      delimiter,
      trim: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as CsvRow[];
  } catch (err) {
    throw new InputError(`${fileName} is not valid CSV: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function encodeLabels(
  raw: string[],
  fileName: string,
  options: ScoresCsvOptions,
): { labels: Uint8Array; positiveValue: string; negativeValue: string } {
  const distinct = [...new Set(raw)];
  const shown = (values: string[]): string =>
    values
      .slice(0, 10)
      .map((v) => `"${v}"`)
      .join(', ') + (values.length > 10 ? `, … (${values.length} distinct)` : '');
  const labels = new Uint8Array(raw.length);
  if (options.positive === undefined) {
    const numeric = raw.map(Number);
    const bad = distinct.filter((v) => Number(v) !== 0 && Number(v) !== 1);
    if (bad.length) {
      throw new InputError(
        `column "${options.label}" in ${fileName} is not binary 0/1: it holds ${shown(distinct)}; ` +
          'name the positive class with --positive VALUE if the labels are two other values',
      );
    }
    numeric.forEach((v, k) => (labels[k] = v));
    return { labels, positiveValue: '1', negativeValue: '0' };
  }
  const positive = options.positive;
  if (!distinct.includes(positive)) {
    throw new InputError(
      `--positive "${positive}" does not occur in column "${options.label}" of ${fileName}; it holds ${shown(distinct)}`,
    );
  }
  if (distinct.length > 2) {
    throw new InputError(
      `column "${options.label}" in ${fileName} holds ${distinct.length} distinct values (${shown(distinct)}); ` +
        'an ROC analysis needs exactly two classes',
    );
  }
  raw.forEach((v, k) => (labels[k] = v === positive ? 1 : 0));
  return { labels, positiveValue: positive, negativeValue: distinct.find((v) => v !== positive) ?? '(none)' };
}
