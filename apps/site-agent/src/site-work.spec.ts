import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../libs/common/src';
import { UNCLIPPED_METRIC } from '../../../libs/federated/src';
import { encodeModelBundle, TaskBody } from '../../../libs/protocol/src';
import { decodeWeights, encodeWeights } from '../../../libs/weights/src';
import { EvalResult } from './executor';
import { LocalParamStore } from './local-params';
import { outgoingUpdate, releasedEvaluation, taskModels } from './site-work';
import { FollowedInstruction, followInstruction } from './task-instruction';

const global = [
  { name: 'encoder/w', shape: [2], values: Float32Array.from([1, 1]) },
  { name: 'decoder/w', shape: [1], values: Float32Array.from([0]) },
];
const trained = [
  { name: 'encoder/w', shape: [2], values: Float32Array.from([4, 5]) },
  { name: 'decoder/w', shape: [1], values: Float32Array.from([0]) },
];
const task = {
  stage: 'ssl',
  config: { updateEncoding: 'float32', updateKind: 'delta' },
} as unknown as TaskBody;
const instruction = (extra: Partial<FollowedInstruction>): FollowedInstruction => ({
  parts: ['encoder', 'decoder'],
  keepLocal: null,
  updateKind: 'delta',
  clip: null,
  minBinCount: null,
  ...extra,
});
const store = () => new LocalParamStore(mkdtempSync(join(tmpdir(), 'site-work-')));
const result = { kind: 'train' as const, weights: trained, nSamples: 10, metrics: { loss: 0.5 } };
const norm = (values: number[]) => Math.sqrt(values.reduce((s, v) => s + v * v, 0));

describe('the way out: select → delta → clip + noise → encode', () => {
  it('clips the delta to the instructed norm and reports the adaptive bit only when asked', () => {
    // Delta (3, 4, 0) has norm 5; clip 1 scales it to (0.6, 0.8, 0).
    const clip = { clipNorm: 1, noiseMultiplier: 0, reportUnclipped: true };
    const out = outgoingUpdate(task, instruction({ clip }), global, result, store());
    const sent = decodeWeights(out.payload);
    expect(norm(sent.flatMap((a) => [...a.values]))).toBeCloseTo(1, 6);
    expect(out.metrics).toEqual({ loss: 0.5, [UNCLIPPED_METRIC]: 0 });
    const quiet = outgoingUpdate(
      task,
      instruction({ clip: { ...clip, reportUnclipped: false } }),
      global,
      result,
      store(),
    );
    expect(quiet.metrics).toEqual({ loss: 0.5 });
  });

  it('adds the site’s share of the noise, σ = multiplier × clip, from the given source', () => {
    const clip = { clipNorm: 1, noiseMultiplier: 2, reportUnclipped: false };
    const values = [0, 1, 2].map(() =>
      decodeWeights(outgoingUpdate(task, instruction({ clip }), global, result, store(), new Rng(7)).payload),
    );
    // Same seed, same noise (a test source); the noise moved the clipped delta far from norm 1.
    expect(values[0]).toEqual(values[1]);
    expect(norm(values[0].flatMap((a) => [...a.values]))).not.toBeCloseTo(1, 1);
  });

  it('follows the signed clip instruction, and refuses one on full-weight updates', () => {
    const base = { stage: 'ssl', config: { updateKind: 'delta' } } as unknown as TaskBody;
    const clip = { clipNorm: 1, noiseMultiplier: 0, reportUnclipped: false };
    const ok = followInstruction({ ...base, instruction: { clip } } as TaskBody, null);
    expect(ok.ok && ok.value.clip).toEqual(clip);
    const bad = followInstruction(
      { ...base, instruction: { clip, updateKind: 'weights' } } as TaskBody,
      null,
    );
    expect(bad.ok).toBe(false);
  });
});

describe('what of an evaluation leaves the site', () => {
  const fine = (n: number, at: (i: number) => number) => {
    const h = new Array<number>(100).fill(0);
    for (let i = 0; i < n; i++) h[at(i)]++;
    return h;
  };
  const evaluation: EvalResult = {
    kind: 'evaluate',
    nPositive: 12,
    nNegative: 13,
    auc: 0.91,
    metrics: { auc_ci95_low: 0.8, auc_ci95_high: 0.99, sensitivity: 0.75 },
    histogram: { bins: 100, positive: fine(12, (i) => 50 + 4 * i), negative: fine(13, (i) => 3 * i) },
  };

  it('without private evaluation: everything the executor computed', () => {
    const released = releasedEvaluation(instruction({ minBinCount: null }), evaluation);
    expect(released).toEqual({
      nPositive: 12,
      nNegative: 13,
      auc: 0.91,
      histogram: evaluation.histogram,
      metrics: evaluation.metrics,
    });
  });

  it('with k: counts and a histogram whose every bin holds ≥ k patients; exact AUC and cut-off metrics stay home', () => {
    const released = releasedEvaluation(instruction({ minBinCount: 5 }), evaluation);
    expect(Object.keys(released).sort()).toEqual(['histogram', 'nNegative', 'nPositive']);
    const h = released.histogram;
    expect(h.edges![0]).toBe(0);
    expect(h.edges![h.bins]).toBe(1);
    h.positive.forEach((p, b) => expect(p + h.negative[b]).toBeGreaterThanOrEqual(5));
    expect(h.positive.reduce((a, b) => a + b, 0)).toBe(12);
    expect(h.negative.reduce((a, b) => a + b, 0)).toBe(13);
  });

  const pair = {
    modelDigest: 'b'.repeat(128),
    aucA: 0.91,
    aucB: 0.8,
    varA: 0.003,
    varB: 0.004,
    covAB: 0.002,
    nPos: 12,
    nNeg: 13,
  };

  it('a paired evaluation releases the pair aggregates, with or without k when each class has ≥ k patients', () => {
    const paired = { ...evaluation, paired: [pair] };
    expect(releasedEvaluation(instruction({ minBinCount: null }), paired).paired).toEqual([pair]);
    const private5 = releasedEvaluation(instruction({ minBinCount: 5 }), paired);
    expect(Object.keys(private5).sort()).toEqual(['histogram', 'nNegative', 'nPositive', 'paired']);
    expect(private5.paired).toEqual([pair]);
  });

  it('refuses to release the pair when a class has fewer than k patients (never silently unpaired)', () => {
    const paired = { ...evaluation, paired: [pair] };
    expect(() => releasedEvaluation(instruction({ minBinCount: 13 }), paired)).toThrow(
      /12 positive \/ 13 negative test patients, fewer than the plan's minBinCount 13/,
    );
  });
});

describe('taskModels: the models a task carries', () => {
  const a = encodeWeights(global, 'float32');
  const b = encodeWeights(trained, 'float32');
  const sha = (bytes: Uint8Array) => createHash('sha512').update(bytes).digest('hex');
  const evaluate = (compareWith?: string[]) =>
    ({
      stage: 'evaluate',
      globalWeightsDigest: sha(a),
      config: { ...(compareWith ? { compareWith } : {}) },
    }) as unknown as TaskBody;

  it('a plain task: the payload is the global', () => {
    const models = taskModels(evaluate(), a);
    expect(models.compared).toEqual([]);
    expect(models.global.map((t) => t.name).sort()).toEqual(['decoder/w', 'encoder/w']);
    expect(models.digest).toBe(sha(a));
  });

  it("a paired task: the bundle's models, each checked against its digest", () => {
    const models = taskModels(evaluate([sha(b)]), encodeModelBundle([a, b]));
    expect([...models.compared[0].find((t) => t.name === 'encoder/w')!.values]).toEqual([4, 5]);
    expect(() => taskModels(evaluate([sha(a)]), encodeModelBundle([a, b]))).toThrow(/model 1 has digest/);
    expect(() => taskModels(evaluate([sha(b)]), a)).toThrow(/not a model bundle/);
    expect(() =>
      taskModels({ ...evaluate([sha(b)]), stage: 'ssl' } as TaskBody, encodeModelBundle([a, b])),
    ).toThrow(/compareWith in a ssl task/);
  });
});
