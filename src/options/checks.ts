/** Small validators shared by every option concern. Each names the option it checks. */
import { InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectOption(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw new InvalidOptionTypeError(name, 'must be an object');
  return value;
}

/** Refuse keys the option does not know, so a typo is an error and not a silent no-op. */
export function knownKeys(value: Record<string, unknown>, keys: readonly string[], name: string): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new InvalidOptionTypeError(name === '' ? key : `${name}.${key}`, `is not a known option (expected one of: ${keys.join(', ')})`);
    }
  }
}

export function integerOption(
  value: unknown,
  name: string,
  range: { min: number; max?: number },
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidOptionTypeError(name, `must be an integer, got ${describe(value)}`);
  }
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (value < range.min || value > max) {
    throw new InvalidOptionRangeError(name, `must be between ${range.min} and ${max}, got ${value}`);
  }
  return value;
}

export function stringOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidOptionTypeError(name, `must be a string, got ${describe(value)}`);
  if (value.includes('\0')) throw new InvalidOptionTypeError(name, 'must not contain NUL bytes');
  return value;
}

export function booleanOption(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidOptionTypeError(name, `must be a boolean, got ${describe(value)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionTypeError(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export function stringArray(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidOptionTypeError(name, `must be an array of strings, got ${describe(value)}`);
  return value.map((item, i) => stringOption(item, `${name}[${i}]`) ?? '');
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}
