import type { TaskBody, TaskConfigDto } from './dto/messages';
import { PROTOCOL_MINOR_VERSION } from './version';

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
 * `undefined` when the task cannot be expressed in 1.0 at all (a token-centring task asks for a
 * different computation, which a 1.0 agent would silently replace by training; a private task's
 * clip or k would be silently ignored).
 */
export function taskForMinorVersion(task: TaskBody, minor: number): TaskBody | undefined {
  if (minor >= PROTOCOL_MINOR_VERSION) return task;
  if (task.config.tokenCentring) return undefined;
  // A 1.0 agent would send an unclipped update or the fine histogram: never strip privacy.
  if (task.instruction?.clip || task.instruction?.minBinCount !== undefined) return undefined;
  const config = { ...task.config } as Record<string, unknown>;
  for (const field of TASK_CONFIG_FIELDS_1_1) delete config[field];
  const { instruction: _instruction, plan: _plan, ...rest } = task;
  return { ...rest, config: config as unknown as TaskConfigDto };
}
