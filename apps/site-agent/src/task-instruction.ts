import { keepLocalFromSource, ModelPart, STAGE_PARTS } from '../../../libs/federated/src';
import {
  ProtocolErrorInfo,
  ProtocolResult,
  TaskBody,
  TaskClipDto,
  UpdateKind,
} from '../../../libs/protocol/src';

/** What one task asks of this site, once its signed instruction and the agent's flags agree. */
export interface FollowedInstruction {
  /** Training: the sub-networks to send back. Empty for evaluation. */
  parts: readonly ModelPart[];
  /** Tensors that never leave the site (FedBN), restored before and saved after the task. */
  keepLocal: RegExp | null;
  updateKind: UpdateKind;
  /** Training under DP: clip (and noise) the delta before it leaves. */
  clip: TaskClipDto | null;
  /** Evaluation under private evaluation: release bins of at least this many patients. */
  minBinCount: number | null;
}

/**
 * The signed instruction decides (protocol 1.1); a task without one (a 1.0 coordinator) gets the
 * 1.0 behaviour: the stage's parts, `config.updateKind`, and the agent's `--fedbn` pattern. A
 * `--fedbn` flag is a consistency check: when it contradicts the instruction the task is declined
 * at once with the reason, instead of training a whole round whose update would be refused.
 */
export function followInstruction(
  task: TaskBody,
  flagKeepLocal: RegExp | null,
): ProtocolResult<FollowedInstruction> {
  const instruction = task.instruction;
  const parts = task.stage === 'evaluate' ? [] : (instruction?.parts ?? STAGE_PARTS[task.stage]);
  const updateKind = instruction?.updateKind ?? task.config.updateKind;
  if (!instruction)
    return {
      ok: true,
      value: { parts, keepLocal: flagKeepLocal, updateKind, clip: null, minBinCount: null },
    };
  let keepLocal: RegExp | null;
  try {
    keepLocal = keepLocalFromSource(instruction.keepLocalPattern ?? null);
  } catch (err) {
    return refused('MALFORMED', `instruction.keepLocalPattern: ${(err as Error).message}`);
  }
  if (flagKeepLocal && flagKeepLocal.source !== keepLocal?.source) {
    const wanted = keepLocal ? `keeps /${keepLocal.source}/ local` : 'keeps nothing local (no FedBN)';
    const fix = keepLocal ? 'start it with that pattern or without --fedbn' : 'restart it without --fedbn';
    return refused(
      'WRONG_TASK',
      `this agent was started with --fedbn (/${flagKeepLocal.source}/) but the run's signed instruction ${wanted}: ${fix}`,
    );
  }
  const clip = task.stage === 'evaluate' ? null : (instruction.clip ?? null);
  if (clip && updateKind !== 'delta')
    return refused(
      'MALFORMED',
      'instruction.clip needs updateKind "delta" (clipping full weights would shrink the model)',
    );
  const minBinCount = task.stage === 'evaluate' ? (instruction.minBinCount ?? null) : null;
  return { ok: true, value: { parts, keepLocal, updateKind, clip, minBinCount } };
}

function refused(code: ProtocolErrorInfo['code'], reason: string): ProtocolResult<never> {
  return { ok: false, error: { code, reason } };
}
