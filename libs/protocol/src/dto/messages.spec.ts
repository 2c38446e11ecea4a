import { sampleBody, TEST_NOW } from '../test-support/fixtures';
import { BODY_TYPES, MESSAGE_TYPES } from '../envelope/envelope';
import { HandshakeAuthDto, TaskBody, UpdateBody } from './messages';
import { parseMessage } from './parse';

const codeOf = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'OK' : r.error!.code);

describe('message DTOs', () => {
  it.each(MESSAGE_TYPES)('a well-formed %s body validates', (type) => {
    const result = parseMessage(BODY_TYPES[type] as new () => object, sampleBody(type, 'hospital-a'));
    expect(result).toMatchObject({ ok: true });
  });

  it('refuses unknown fields instead of stripping them (a signature covers what was sent)', () => {
    const result = parseMessage(UpdateBody, { ...sampleBody('update', 'hospital-a'), isAdmin: true });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.error).toEqual({ code: 'MALFORMED', reason: expect.stringContaining('isAdmin') });
  });

  it('bounds every number, string and id, and names the field', () => {
    const update = sampleBody('update', 'hospital-a');
    const cases: [Record<string, unknown>, string][] = [
      [{ nSamples: 0 }, 'nSamples'],
      [{ nSamples: 1.5 }, 'nSamples'],
      [{ round: 100_001 }, 'round'],
      [{ runId: 'Run 1' }, 'runId'],
      [{ runId: 'r'.repeat(65) }, 'runId'],
      [{ stage: 'pretrain' }, 'stage'],
      [{ encoding: 'float64' }, 'encoding'],
      [{ timestamp: TEST_NOW / 1000 }, 'timestamp'],
      [{ metrics: { loss: 1e13 } }, 'metrics'],
      [{ metrics: { 'Bad Name': 1 } }, 'metrics'],
      [{ metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, i])) }, 'metrics'],
      [{ baseDigest: 'ab'.repeat(63) }, 'baseDigest'],
      [{ nonce: 'short' }, 'nonce'],
    ];
    for (const [change, field] of cases) {
      const result = parseMessage(UpdateBody, { ...update, ...change });
      expect([field, codeOf(result)]).toEqual([field, 'MALFORMED']);
      if (!result.ok) expect(result.error.reason).toContain(field);
    }
  });

  it('validates nested task config with bounds', () => {
    const task = sampleBody('task', 'coordinator');
    for (const config of [
      { ...task.config, learningRate: 0 },
      { ...task.config, batchSize: 5000 },
      { ...task.config, maskRatio: 0.99 },
      { ...task.config, freezeEncoderEpochs: -1 },
      { ...task.config, freezeEncoderEpochs: 1.5 },
      { ...task.config, extra: 1 },
      { ...task.config, phases: { names: [] } },
      { ...task.config, phases: { names: ['pre', 3] } },
      { ...task.config, phases: { names: ['pre'], times: [-1] } },
      { ...task.config, phases: ['pre', 'arterial'] },
      'fast',
    ]) {
      expect(codeOf(parseMessage(TaskBody, { ...task, config }))).toBe('MALFORMED');
    }
    const warmUp = { ...task, config: { ...task.config, freezeEncoderEpochs: 2 } };
    expect(codeOf(parseMessage(TaskBody, warmUp))).toBe('OK');
    const phases = { names: ['pre', 'arterial', 'portal_venous', 'delayed'], times: [0, 35, 70, 180] };
    expect(codeOf(parseMessage(TaskBody, { ...task, config: { ...task.config, phases } }))).toBe('OK');
  });

  it('checks evaluation histograms against the counts', () => {
    const body = sampleBody('eval-result', 'hospital-a');
    const bad = [
      { nPositive: 4 },
      { histogram: { ...body.histogram, bins: 5 } },
      { histogram: { ...body.histogram, positive: [0, 1, 0, 2.5] } },
      { histogram: { bins: 10_001, positive: [], negative: [] } },
      { auc: 1.2 },
    ];
    for (const change of bad) {
      expect(codeOf(parseMessage(BODY_TYPES['eval-result'], { ...body, ...change }))).toBe('MALFORMED');
    }
  });

  it('refuses hostile shapes without throwing', () => {
    const update = sampleBody('update', 'hospital-a');
    const deep: Record<string, unknown> = {};
    let cursor = deep;
    for (let i = 0; i < 50; i++) cursor = cursor.a = {};
    const hostile: unknown[] = [
      null,
      undefined,
      42,
      'text',
      [update],
      JSON.parse(`{"__proto__":{"polluted":true},"sender":"hospital-a"}`),
      { ...update, constructor: { prototype: { polluted: true } } },
      { ...update, metrics: deep },
      { ...update, nSamples: 10n },
      { ...update, nSamples: NaN },
      { ...update, reason: 'x'.repeat(1_000_000) },
      { ...update, metrics: new Map([['loss', 1]]) },
      Object.assign(Object.create({ inherited: 1 }), update),
      { ...update, [Symbol('s')]: 1 },
      { ...update, fn: () => 1 },
    ];
    for (const raw of hostile) expect(codeOf(parseMessage(UpdateBody, raw))).toBe('MALFORMED');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('handshake auth: version and signature shape', () => {
    const auth = {
      v: 1,
      siteId: 'hospital-a',
      timestamp: TEST_NOW,
      nonce: 'n'.repeat(22),
      signature: 'A'.repeat(86) + '==',
    };
    expect(codeOf(parseMessage(HandshakeAuthDto, auth))).toBe('OK');
    expect(codeOf(parseMessage(HandshakeAuthDto, { ...auth, signature: 'A'.repeat(88) }))).toBe('MALFORMED');
    expect(codeOf(parseMessage(HandshakeAuthDto, { ...auth, v: 2 }))).toBe('MALFORMED');
  });
});
