import type { TaskBody, TaskConfigDto } from './dto/messages';
import {
  LOCAL_ONLY_SSL_MINOR_VERSION,
  PAIRED_EVALUATION_MINOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  SECURE_AGGREGATION_MINOR_VERSION,
} from './version';

/**
 * The socket.io query parameter in which an agent states its protocol minor version. A query
 * parameter rather than a handshake field: the handshake refuses unknown fields, so a 1.0
 * coordinator would refuse a newer agent, while every coordinator ignores query parameters it
 * does not read. Absent = 1.0 (agents before protocol 1.1 did not send it).
 */
export const MINOR_VERSION_QUERY = 'phcc-minor';

/** The agent's stated minor version from a connection's query; 0 when absent or unreadable. */
export function minorVersionOf(query: Record<string, unknown> | undefined): number {
  const raw = query?.[MINOR_VERSION_QUERY];
  const value = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isInteger(value) && value >= 0 && value <= 1000 ? value : 0;
}

/** The task config fields added in protocol 1.1 (docs/PROTOCOL.md §3.2): a 1.0 agent refuses them. */
export const TASK_CONFIG_FIELDS_1_1 = [
  'optimiser',
  'weightDecay',
  'scheduleStartEpoch',
  'scheduleTotalEpochs',
  'warmupEpochs',
  'keepOptimiserState',
  'tokenCentring',
  'evaluationThreshold',
] as const satisfies readonly (keyof TaskConfigDto)[];

/**
 * The task as an agent of `minor` can read it: for 1.0, without the 1.1 instruction and config
 * fields (its validation refuses unknown fields), which is what a 1.0 coordinator would have sent;
 * 1.1 reads every 1.1 field; `undefined` when the task cannot be expressed for that agent at all
 * (a secure-aggregation task before 1.2; a paired evaluation before 1.3; a local-only task with
 * its own SSL stage before 1.4; a token-centring or local-only task before 1.1: all ask for a
 * different computation, which the older agent would refuse or silently replace by another; a 1.0
 * agent would silently ignore a private task's clip or k). A 1.1 agent refuses a task carrying
 * 1.2 fields (plan, clip, k) as malformed, which is safe.
 */
export function taskForMinorVersion(task: TaskBody, minor: number): TaskBody | undefined {
  // A secure-aggregation task asks for the SecAgg steps instead of an update: an older agent
  // would send its update in clear, so it is never sent one (the caller refuses it by code).
  if (task.config.secureAggregation && minor < SECURE_AGGREGATION_MINOR_VERSION) return undefined;
  // A paired evaluation asks for the pair's aggregates: an older agent could only refuse the
  // field or answer with A's result alone, which must never pass for a paired answer.
  if (task.config.compareWith && minor < PAIRED_EVALUATION_MINOR_VERSION) return undefined;
  // A local-only task with its own SSL stage: an older agent would refuse the field, and without
  // it would train a no-SSL model that the matrix would show as the SSL run's local-only row.
  if (task.config.localOnlySsl && minor < LOCAL_ONLY_SSL_MINOR_VERSION) return undefined;
  if (minor >= PROTOCOL_MINOR_VERSION || minor >= 1) return task;
  // Both ask for another computation than a round's training, which the old agent would not do.
  if (task.config.tokenCentring || task.config.localOnly) return undefined;
  // A 1.0 agent would send an unclipped update or the fine histogram: never strip privacy.
  if (task.instruction?.clip || task.instruction?.minBinCount !== undefined) return undefined;
  const config = { ...task.config } as Record<string, unknown>;
  for (const field of TASK_CONFIG_FIELDS_1_1) delete config[field];
  const { instruction: _instruction, plan: _plan, ...rest } = task;
  return { ...rest, config: config as unknown as TaskConfigDto };
}
