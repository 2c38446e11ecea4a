/**
 * A cheap structural scan of untrusted input, run before class-transformer touches it: plain
 * JSON-like data only, bounded in depth, size and string length, and no keys that could reach an
 * object's prototype. class-validator then checks the meaning; this stops the shapes that could
 * make it slow, throw, or pollute prototypes.
 */
export interface RawLimits {
  maxDepth: number;
  maxNodes: number;
  maxStringLength: number;
  maxKeys: number;
  /** Binary leaves (socket.io attachments) are allowed up to this many bytes; 0 forbids them. */
  maxBinaryBytes: number;
}

export const DEFAULT_RAW_LIMITS: RawLimits = {
  maxDepth: 8,
  maxNodes: 50_000,
  maxStringLength: 4096,
  maxKeys: 128,
  maxBinaryBytes: 0,
};

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Returns a reason when the input is unacceptable, undefined when it may be validated. */
export function rawShapeProblem(raw: unknown, limits: RawLimits = DEFAULT_RAW_LIMITS): string | undefined {
  let nodes = 0;
  const visit = (value: unknown, depth: number, path: string): string | undefined => {
    if (++nodes > limits.maxNodes) return `more than ${limits.maxNodes} values`;
    if (value === null) return undefined;
    switch (typeof value) {
      case 'boolean':
        return undefined;
      case 'number':
        return Number.isFinite(value) ? undefined : `${path} is not a finite number`;
      case 'string':
        return value.length > limits.maxStringLength
          ? `${path} is longer than ${limits.maxStringLength} characters`
          : undefined;
      case 'object':
        break;
      default:
        return `${path} is a ${typeof value}, not JSON`;
    }
    if (depth >= limits.maxDepth) return `${path} is nested deeper than ${limits.maxDepth}`;
    if (value instanceof Uint8Array) {
      if (value.byteLength > limits.maxBinaryBytes) {
        return limits.maxBinaryBytes === 0
          ? `${path} is binary where none is allowed`
          : `${path} is larger than ${limits.maxBinaryBytes} bytes`;
      }
      return undefined;
    }
    if (Array.isArray(value)) {
      if (value.length > limits.maxNodes) return `${path} has too many items`;
      for (let i = 0; i < value.length; i++) {
        const problem = visit(value[i], depth + 1, `${path}[${i}]`);
        if (problem) return problem;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return `${path} is not a plain object`;
    const keys = Object.keys(value);
    if (keys.length > limits.maxKeys) return `${path} has more than ${limits.maxKeys} fields`;
    for (const k of keys) {
      if (FORBIDDEN_KEYS.has(k)) return `${path} has a forbidden key "${k}"`;
      if (k.length > 128) return `${path} has a key longer than 128 characters`;
      const problem = visit((value as Record<string, unknown>)[k], depth + 1, `${path}.${k}`);
      if (problem) return problem;
    }
    if (Object.getOwnPropertySymbols(value).length) return `${path} has symbol keys`;
    return undefined;
  };
  return visit(raw, 0, 'message');
}
