import { Matches, ValidateBy, ValidationOptions } from 'class-validator';
import { DIGEST_PATTERN, ID_PATTERN, NONCE_PATTERN } from '../version';

/** Shared field rules, so every DTO spells an id, a nonce or a digest the same way. */
export const IsProtocolId = (o?: ValidationOptions) =>
  Matches(ID_PATTERN, { message: '$property must match ^[a-z0-9][a-z0-9._-]{0,63}$', ...o });
export const IsNonce = () =>
  Matches(NONCE_PATTERN, { message: '$property must be 16-64 base64url characters' });
export const IsDigest = () =>
  Matches(DIGEST_PATTERN, { message: '$property must be a SHA-512 digest in lowercase hex' });

export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9_./-]{0,63}$/;

/** A bounded map of metric name → finite number within ±1e12. */
export function IsMetricMap(maxEntries: number, o?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMetricMap',
      validator: {
        validate(value: unknown): boolean {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          return (
            entries.length <= maxEntries &&
            entries.every(
              ([k, v]) =>
                METRIC_NAME_PATTERN.test(k) &&
                typeof v === 'number' &&
                Number.isFinite(v) &&
                Math.abs(v) <= 1e12,
            )
          );
        },
        defaultMessage: () =>
          `$property must map at most ${maxEntries} names (${METRIC_NAME_PATTERN.source}) to finite numbers within ±1e12`,
      },
    },
    o,
  );
}

/** A binary attachment (Buffer / Uint8Array) of 1..maxBytes bytes. */
export function IsBinary(maxBytes: number, o?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isBinary',
      validator: {
        validate: (value: unknown) =>
          value instanceof Uint8Array && value.byteLength > 0 && value.byteLength <= maxBytes,
        defaultMessage: () => `$property must be binary data of 1 to ${maxBytes} bytes`,
      },
    },
    o,
  );
}

/** A plain (non-array) object; its content is validated by whoever owns it. */
export function IsPlainRecord(o?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPlainRecord',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null),
        defaultMessage: () => '$property must be an object',
      },
    },
    o,
  );
}
