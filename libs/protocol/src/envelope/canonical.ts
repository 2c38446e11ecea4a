import { ProtocolError } from '../errors';

const MAX_DEPTH = 32;

/**
 * Canonical JSON (the subset of RFC 8785 / JCS that our messages use): object keys sorted by
 * UTF-16 code units, no whitespace, strings escaped as JSON.stringify does, numbers written by
 * ECMAScript Number-to-string. Signatures cover these bytes, so two implementations that agree on
 * this function agree on every signature. Anything that is not plain JSON (undefined, NaN,
 * Infinity, BigInt, functions, class instances, binary) is refused rather than silently dropped,
 * because a dropped field would be unsigned.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new ProtocolError('MALFORMED', `nesting deeper than ${MAX_DEPTH}`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new ProtocolError('MALFORMED', `non-finite number ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map((v) => encode(v, depth + 1)).join(',') + ']';
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new ProtocolError('MALFORMED', 'only plain JSON objects can be signed');
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + encode(record[k], depth + 1)).join(',') + '}';
    }
    default:
      throw new ProtocolError('MALFORMED', `a ${typeof value} cannot be signed`);
  }
}
