import { createHash } from 'node:crypto';
import { canonicalJson } from './envelope/canonical';

/**
 * Why a site refused a run's plan (docs/PRIVACY.md §6). The agent declines the task with one of
 * these codes in its `task-ack` (`refusalCode`); the coordinator records and shows it. Defined
 * here, once, because both ends read it.
 */
export const CONSENT_REFUSALS = {
  PLAN_NOT_APPROVED: 'the plan digest is not among this site’s approvals',
  PLAN_NEEDS_SECURE_AGGREGATION: 'this site sends model updates only under secure aggregation',
  PLAN_BIN_COUNT_TOO_LOW: 'the plan releases histogram bins with fewer patients than this site allows',
  PLAN_EPSILON_TOO_HIGH: 'the plan’s privacy loss ε exceeds this site’s maximum',
  PLAN_MALFORMED: 'the plan could not be read',
} as const;
export type ConsentRefusalCode = keyof typeof CONSENT_REFUSALS;
export const CONSENT_REFUSAL_CODES = Object.keys(CONSENT_REFUSALS) as ConsentRefusalCode[];

/**
 * A run plan's digest, what a site approves: SHA-512 (lowercase hex) of the plan's canonical JSON
 * (sorted keys, no whitespace): exactly the run's `planDigest` the coordinator stores and shows
 * (`GET /runs/{id}`, the dashboard), so an operator hands sites the digest they see. The agent
 * computes it from the plan signed into the task; equal plans have equal digests.
 */
export function planDigest(plan: object): string {
  return createHash('sha512').update(canonicalJson(plan), 'utf8').digest('hex');
}

export const PLAN_DIGEST_PATTERN = /^[0-9a-f]{128}$/;
