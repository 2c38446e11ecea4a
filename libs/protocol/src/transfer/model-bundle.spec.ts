import { createHash } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { EvalResultBody, TaskConfigDto } from '../dto/messages';
import { decodeModelBundle, encodeModelBundle } from './model-bundle';

const sha = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');

describe('model bundle (paired evaluation payload)', () => {
  const a = Buffer.from('model A bytes');
  const b = Buffer.from('the compared model, B');

  it('round-trips the models in order, each checked against its digest', () => {
    const bundle = encodeModelBundle([a, b]);
    const [ra, rb] = decodeModelBundle(bundle, [sha(a), sha(b)]);
    expect(ra.equals(a)).toBe(true);
    expect(rb.equals(b)).toBe(true);
  });

  it('refuses a model whose bytes do not match the digest the task names', () => {
    expect(() => decodeModelBundle(encodeModelBundle([a, b]), [sha(a), sha(a)])).toThrow(
      /model 1 has digest .* the task names/,
    );
  });

  it('refuses a count mismatch, a plain weights payload and trailing or missing bytes', () => {
    const bundle = encodeModelBundle([a, b]);
    expect(() => decodeModelBundle(bundle, [sha(a)])).toThrow(/holds 2 models, the task names 1/);
    expect(() => decodeModelBundle(a, [sha(a)])).toThrow(/not a model bundle/);
    expect(() => decodeModelBundle(Buffer.concat([bundle, Buffer.from([0])]), [sha(a), sha(b)])).toThrow(
      /1 bytes after the last model/,
    );
    expect(() => decodeModelBundle(bundle.subarray(0, bundle.length - 1), [sha(a), sha(b)])).toThrow(
      /model 1 runs past the payload/,
    );
  });
});

describe('paired evaluation DTO fields (protocol 1.3)', () => {
  const pair = {
    modelDigest: 'c'.repeat(128),
    aucA: 0.8,
    aucB: 0.7,
    varA: 0.004,
    varB: 0.005,
    covAB: 0.003,
    nPos: 10,
    nNeg: 12,
  };
  const result = (paired: unknown[]) =>
    plainToInstance(EvalResultBody, {
      sender: 'site-a',
      nonce: 'n'.repeat(22),
      timestamp: 1_700_000_000_000,
      runId: 'run-1',
      round: 20000,
      taskId: 'evaluate-20000-1-x',
      stage: 'evaluate',
      modelDigest: 'a'.repeat(128),
      nPositive: 10,
      nNegative: 12,
      histogram: { bins: 1, positive: [10], negative: [12] },
      paired,
    });

  it('validates the pair and checks it against the result it travels with', () => {
    const ok = result([pair]);
    expect(validateSync(ok, { whitelist: true, forbidNonWhitelisted: true })).toEqual([]);
    expect(ok.crossFieldProblem()).toBeUndefined();
    expect(result([{ ...pair, nPos: 9 }]).crossFieldProblem()).toMatch(/paired\[0\]: nPos\/nNeg/);
    expect(result([{ ...pair, covAB: 0.01 }]).crossFieldProblem()).toMatch(/not a covariance/);
    const bad = validateSync(result([{ ...pair, varA: -1, modelDigest: 'x' }]), { whitelist: true });
    expect(JSON.stringify(bad)).toMatch(/varA must not be less than 0/);
    expect(JSON.stringify(bad)).toMatch(/modelDigest must be a SHA-512 digest/);
  });

  it('compareWith takes 1 to 4 digests', () => {
    const config = (compareWith: unknown) =>
      validateSync(
        plainToInstance(TaskConfigDto, {
          localEpochs: 1,
          learningRate: 0.01,
          batchSize: 2,
          seed: 1,
          updateEncoding: 'float32',
          updateKind: 'weights',
          maxUpdateBytes: 1024,
          compareWith,
        }),
        { whitelist: true, forbidNonWhitelisted: true },
      );
    expect(config(['c'.repeat(128)])).toEqual([]);
    expect(JSON.stringify(config(['nope']))).toMatch(/compareWith must hold SHA-512 digests/);
    expect(JSON.stringify(config([]))).toMatch(/compareWith must contain at least 1 elements/);
    expect(JSON.stringify(config(Array(5).fill('c'.repeat(128))))).toMatch(/no more than 4/);
  });
});
