/**
 * Why the coordinator refused an update. The codes are stable strings: the coordinator writes
 * them to its audit log and the dashboard groups by them.
 */
export const REJECTION_CODES = [
  'BAD_SAMPLE_COUNT',
  'KIND_MISMATCH',
  'DUPLICATE_UPDATE',
  'NAME_MISMATCH',
  'SHAPE_MISMATCH',
  'NON_FINITE',
  'NORM_OUTLIER',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** One failed check: the code for machines, the reason (names the tensor / value) for people. */
export interface CheckFailure {
  code: RejectionCode;
  reason: string;
}

export interface Rejection extends CheckFailure {
  siteId: string;
  /** Name of the check that refused it. */
  check: string;
}
