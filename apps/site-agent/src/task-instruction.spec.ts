import { DEFAULT_NORMALISATION_PATTERN } from '../../../libs/federated/src';
import type { TaskBody } from '../../../libs/protocol/src';
import { sampleBody } from '../../../libs/protocol/src/test-support/fixtures';
import { followInstruction } from './task-instruction';

const task = (instruction?: TaskBody['instruction'], stage: TaskBody['stage'] = 'finetune'): TaskBody => ({
  ...(sampleBody('task', 'coordinator') as TaskBody),
  stage,
  ...(instruction ? { instruction } : {}),
});
const BN = DEFAULT_NORMALISATION_PATTERN;

describe('followInstruction', () => {
  it('without an instruction (a 1.0 coordinator): the stage parts, config.updateKind and --fedbn', () => {
    expect(followInstruction(task(), BN)).toEqual({
      ok: true,
      value: {
        parts: ['encoder', 'head'],
        keepLocal: BN,
        updateKind: 'delta',
        clip: null,
        minBinCount: null,
      },
    });
    expect(followInstruction(task(undefined, 'evaluate'), null)).toMatchObject({
      ok: true,
      value: { parts: [] },
    });
  });

  it('follows the signed instruction: parts, update kind and the keep-local pattern, with no flag needed', () => {
    const result = followInstruction(
      task({ parts: ['head'], updateKind: 'weights', keepLocalPattern: BN.source }),
      null,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        parts: ['head'],
        keepLocal: new RegExp(BN.source),
        updateKind: 'weights',
        clip: null,
        minBinCount: null,
      },
    });
    expect(followInstruction(task({ keepLocalPattern: BN.source }), BN).ok).toBe(true);
  });

  it('declines at once when --fedbn contradicts the instruction, saying how to fix it', () => {
    const noFedbn = followInstruction(task({ parts: ['encoder', 'head'] }), BN);
    expect(noFedbn).toEqual({
      ok: false,
      error: {
        code: 'WRONG_TASK',
        reason: `this agent was started with --fedbn (/${BN.source}/) but the run's signed instruction keeps nothing local (no FedBN): restart it without --fedbn`,
      },
    });
    const other = followInstruction(task({ keepLocalPattern: '/bn/' }), BN);
    expect(other.ok === false && other.error.reason).toMatch(
      /keeps \/\\\/bn\\\/\/ local: start it with that pattern/,
    );
  });

  it('refuses a keep-local pattern that is not a pattern', () => {
    expect(followInstruction(task({ keepLocalPattern: '(' }), null)).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED' },
    });
  });
});
