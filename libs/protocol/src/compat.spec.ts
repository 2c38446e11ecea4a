import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { minorVersionOf, MINOR_VERSION_QUERY, TASK_CONFIG_FIELDS_1_1, taskForMinorVersion } from './compat';
import { TaskBody } from './dto/messages';
import { parseMessage } from './dto/parse';
import { PROTOCOL_MINOR_VERSION } from './version';

const task: TaskBody = {
  sender: 'coordinator',
  nonce: 'AAECAwQFBgcICQoLDA0ODw',
  timestamp: 1_767_225_600_000,
  runId: 'run-1',
  round: 0,
  taskId: 'finetune-0-1-abc',
  stage: 'finetune',
  globalWeightsDigest: 'a'.repeat(128),
  deadline: 1_767_225_660_000,
  config: {
    localEpochs: 1,
    learningRate: 0.01,
    batchSize: 2,
    seed: 1,
    updateEncoding: 'float32',
    updateKind: 'weights',
    maxUpdateBytes: 1024,
    optimiser: 'adam',
    weightDecay: 0.05,
    scheduleStartEpoch: 0,
    scheduleTotalEpochs: 3,
    warmupEpochs: 1,
    keepOptimiserState: true,
  },
  instruction: { parts: ['encoder', 'head'], updateKind: 'weights' },
};

/** What a 1.0 agent's validation would say of the body: unknown fields are refused. */
function problemsFor1_0(body: TaskBody): string[] {
  const known = new Set(TASK_CONFIG_FIELDS_1_1 as readonly string[]);
  const unknownConfig = Object.keys(body.config).filter((k) => known.has(k));
  return [...unknownConfig, ...('instruction' in body ? ['instruction'] : [])];
}

describe('protocol minor versions', () => {
  it('reads the minor version an agent states in its connection query; absent means 1.0', () => {
    expect(minorVersionOf({ [MINOR_VERSION_QUERY]: String(PROTOCOL_MINOR_VERSION) })).toBe(
      PROTOCOL_MINOR_VERSION,
    );
    expect(minorVersionOf({ [MINOR_VERSION_QUERY]: ['1', '2'] })).toBe(1);
    expect(minorVersionOf({})).toBe(0);
    expect(minorVersionOf(undefined)).toBe(0);
    expect(minorVersionOf({ [MINOR_VERSION_QUERY]: 'x' })).toBe(0);
    expect(minorVersionOf({ [MINOR_VERSION_QUERY]: '-1' })).toBe(0);
  });

  it('sends a current agent the task unchanged', () => {
    expect(taskForMinorVersion(task, PROTOCOL_MINOR_VERSION)).toBe(task);
  });

  it('sends a 1.0 agent the task without the 1.1 fields, and the rest unchanged', () => {
    const old = taskForMinorVersion(task, 0)!;
    expect(problemsFor1_0(task).length).toBeGreaterThan(0);
    expect(problemsFor1_0(old)).toEqual([]);
    expect(old.config).toEqual({
      localEpochs: 1,
      learningRate: 0.01,
      batchSize: 2,
      seed: 1,
      updateEncoding: 'float32',
      updateKind: 'weights',
      maxUpdateBytes: 1024,
    });
    expect({ ...old, config: undefined }).toEqual({ ...task, config: undefined, instruction: undefined });
    // Still a valid task body for today's validation.
    expect(
      validateSync(plainToInstance(TaskBody, old), { whitelist: true, forbidNonWhitelisted: true }),
    ).toEqual([]);
  });

  it('cannot express a token-centring task in 1.0 (the agent would train instead)', () => {
    expect(
      taskForMinorVersion({ ...task, config: { ...task.config, tokenCentring: true } }, 0),
    ).toBeUndefined();
  });

  it('cannot express a local-only task in 1.0 (the agent would train without its own token centre)', () => {
    expect(taskForMinorVersion({ ...task, config: { ...task.config, localOnly: true } }, 0)).toBeUndefined();
  });

  it('never sends a secure-aggregation task to an agent before 1.2 (it would answer in clear)', () => {
    const secure: TaskBody = {
      ...task,
      config: {
        ...task.config,
        secureAggregation: {
          sessionId: 'sa-0123',
          threshold: 2,
          ringBits: 48,
          fractionBits: 36,
          maxAbs: 256,
          weightCap: 4096,
        },
      },
    };
    expect(taskForMinorVersion(secure, 0)).toBeUndefined();
    expect(taskForMinorVersion(secure, 1)).toBeUndefined();
    expect(taskForMinorVersion(secure, 2)).toBe(secure);
    // …while a 1.1 agent still gets every other task unchanged.
    expect(taskForMinorVersion(task, 1)).toBe(task);
  });

  it('never sends a paired evaluation to an agent before 1.3 (it would answer unpaired)', () => {
    const paired: TaskBody = {
      ...task,
      stage: 'evaluate',
      config: { ...task.config, compareWith: ['b'.repeat(128)] },
    };
    expect(taskForMinorVersion(paired, 0)).toBeUndefined();
    expect(taskForMinorVersion(paired, 2)).toBeUndefined();
    expect(taskForMinorVersion(paired, 3)).toBe(paired);
  });

  it('never sends a local-only task with its own SSL stage to an agent before 1.4, while the one without still goes to 1.1', () => {
    const localOnly: TaskBody = { ...task, stage: 'finetune', config: { ...task.config, localOnly: true } };
    const withSsl: TaskBody = {
      ...localOnly,
      config: {
        ...localOnly.config,
        localOnlySsl: {
          epochs: 4,
          learningRate: 0.001,
          batchSize: 8,
          maskRatio: 0.6,
          optimiser: 'adam',
          weightDecay: 0.05,
          warmupEpochs: 1,
        },
      },
    };
    for (const minor of [0, 1, 2, 3]) expect(taskForMinorVersion(withSsl, minor)).toBeUndefined();
    expect(taskForMinorVersion(withSsl, 4)).toBe(withSsl);
    expect(taskForMinorVersion(localOnly, 1)).toBe(localOnly);
    // What a 1.4 agent's gate takes; a recipe with a field missing or an unknown one it refuses.
    expect(parseMessage(TaskBody, withSsl)).toMatchObject({ ok: true });
    const { maskRatio: _m, ...partial } = withSsl.config.localOnlySsl!;
    const recipe = (r: object) => ({ ...withSsl, config: { ...withSsl.config, localOnlySsl: r } });
    expect(parseMessage(TaskBody, recipe(partial))).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED', reason: expect.stringContaining('config.localOnlySsl.maskRatio') },
    });
    expect(parseMessage(TaskBody, recipe({ ...withSsl.config.localOnlySsl, flips: true }))).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED' },
    });
  });
});
