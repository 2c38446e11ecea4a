import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { fail, ok, ProtocolResult } from '../errors';
import { DEFAULT_RAW_LIMITS, RawLimits, rawShapeProblem } from './raw-guard';

type DtoClass<T> = new () => T;

/** DTOs with rules that span fields (e.g. histogram sums) implement this; undefined = fine. */
export interface CrossFieldCheck {
  crossFieldProblem(): string | undefined;
}

/**
 * Turns untrusted input into a validated DTO instance, or a MALFORMED error naming the first
 * problem. Never throws: it is what a gateway calls on every message before anything else.
 * Unknown fields are refused (not stripped), because a signature covers the fields as received.
 */
export function parseMessage<T extends object>(
  dto: DtoClass<T>,
  raw: unknown,
  limits: Partial<RawLimits> = {},
): ProtocolResult<T> {
  try {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return fail('MALFORMED', `${dto.name}: expected an object, got ${describe(raw)}`);
    }
    const problem = rawShapeProblem(raw, { ...DEFAULT_RAW_LIMITS, ...limits });
    if (problem) return fail('MALFORMED', `${dto.name}: ${problem}`);
    const instance = plainToInstance(dto, raw, { enableImplicitConversion: false });
    // Binary attachments pass through as they arrived: class-transformer would copy a Buffer and
    // turn a plain Uint8Array into an object.
    for (const [key, value] of Object.entries(raw)) {
      if (value instanceof Uint8Array) (instance as Record<string, unknown>)[key] = value;
    }
    const errors = validateSync(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      stopAtFirstError: true,
      validationError: { target: false, value: false },
    });
    if (errors.length) return fail('MALFORMED', `${dto.name}: ${firstMessage(errors)}`);
    const crossField = (instance as Partial<CrossFieldCheck>).crossFieldProblem?.();
    if (crossField) return fail('MALFORMED', `${dto.name}: ${crossField}`);
    return ok(instance);
  } catch (err) {
    return fail('MALFORMED', `${dto.name}: ${err instanceof Error ? err.message : 'unparseable'}`);
  }
}

function firstMessage(errors: ValidationError[], prefix = ''): string {
  const e = errors[0];
  const path = prefix ? `${prefix}.${e.property}` : e.property;
  if (e.constraints) {
    const message = Object.values(e.constraints)[0];
    return message.includes(e.property) ? message.replace(e.property, path) : `${path}: ${message}`;
  }
  if (e.children?.length) return firstMessage(e.children, path);
  return `${path} is invalid`;
}

function describe(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'an array';
  return `a ${typeof raw}`;
}
