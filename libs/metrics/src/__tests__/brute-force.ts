/**
 * Deliberately naive O(m·n) reference implementations, used only by the tests to check the
 * sort-based library code against the definitions (all pairs, structural components pairwise).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../../../common/src';

function psi(caseScore: number, controlScore: number): number {
  return caseScore > controlScore ? 1 : caseScore === controlScore ? 0.5 : 0;
}

function byClass(labels: number[], scores: number[]): { cases: number[]; controls: number[] } {
  return {
    cases: scores.filter((_, k) => labels[k] === 1),
    controls: scores.filter((_, k) => labels[k] === 0),
  };
}

export function bruteAuc(labels: number[], scores: number[]): number {
  const { cases, controls } = byClass(labels, scores);
  let s = 0;
  for (const x of cases) for (const y of controls) s += psi(x, y);
  return s / (cases.length * controls.length);
}

/** Structural components V10 (per case) and V01 (per control), each from all pairs. */
export function bruteComponents(
  labels: number[],
  scores: number[],
): { v10: number[]; v01: number[]; auc: number } {
  const { cases, controls } = byClass(labels, scores);
  const v10 = cases.map((x) => controls.reduce((s, y) => s + psi(x, y), 0) / controls.length);
  const v01 = controls.map((y) => cases.reduce((s, x) => s + psi(x, y), 0) / cases.length);
  return { v10, v01, auc: v10.reduce((a, b) => a + b, 0) / v10.length };
}

function cov(a: number[], ma: number, b: number[], mb: number): number {
  return a.reduce((s, _, k) => s + (a[k] - ma) * (b[k] - mb), 0) / (a.length - 1);
}

export function bruteDelongVariance(labels: number[], scores: number[]): number {
  const c = bruteComponents(labels, scores);
  return cov(c.v10, c.auc, c.v10, c.auc) / c.v10.length + cov(c.v01, c.auc, c.v01, c.auc) / c.v01.length;
}

export function bruteDelongPairedZ(labels: number[], s1: number[], s2: number[]): number {
  const a = bruteComponents(labels, s1);
  const b = bruteComponents(labels, s2);
  const m = a.v10.length;
  const n = a.v01.length;
  const va = cov(a.v10, a.auc, a.v10, a.auc) / m + cov(a.v01, a.auc, a.v01, a.auc) / n;
  const vb = cov(b.v10, b.auc, b.v10, b.auc) / m + cov(b.v01, b.auc, b.v01, b.auc) / n;
  const cab = cov(a.v10, a.auc, b.v10, b.auc) / m + cov(a.v01, a.auc, b.v01, b.auc) / n;
  return (a.auc - b.auc) / Math.sqrt(va + vb - 2 * cab);
}

/** Sensitivity/specificity when "score ≥ t" is called positive, by counting. */
export function bruteOperatingPoint(labels: number[], scores: number[], t: number): [number, number] {
  const { cases, controls } = byClass(labels, scores);
  return [
    cases.filter((x) => x >= t).length / cases.length,
    controls.filter((y) => y < t).length / controls.length,
  ];
}

/** Random labels and scores with many ties (scores rounded to a coarse grid). */
export function randomTiedData(
  rng: Rng,
  size: number,
  grid = 8,
  shift = 0.7,
): { labels: number[]; scores: number[] } {
  const labels: number[] = [];
  const scores: number[] = [];
  for (let k = 0; k < size; k++) {
    const label = rng.bernoulli(0.4) ? 1 : 0;
    labels.push(label);
    scores.push(Math.round((rng.normal() + shift * label) * grid) / grid);
  }
  // guarantee both classes (two of each) whatever the draw
  labels.splice(0, 4, 0, 0, 1, 1);
  return { labels, scores };
}

/** pROC's reference data set (label y, scores a and b): libs/metrics/src/testdata, see its README. */
export function loadPairedReference(): {
  y: number[];
  a: number[];
  b: number[];
  expected: {
    a: { auc: number; ci95: [number, number] };
    b: { auc: number; ci95: [number, number] };
    paired_delong_a_vs_b: { z: number; p: number };
    unpaired_delong_a_vs_b: { d: number; p: number };
    n_pos: number;
    n_neg: number;
  };
} {
  const dir = path.join(__dirname, '..', 'testdata');
  const lines = fs.readFileSync(path.join(dir, 'paired.csv'), 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  const col = (name: string): number[] => rows.map((r) => r[header.indexOf(name)]);
  return {
    y: col('y'),
    a: col('a'),
    b: col('b'),
    expected: JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')),
  };
}

export function referenceCsvPath(): string {
  return path.join(__dirname, '..', 'testdata', 'paired.csv');
}
