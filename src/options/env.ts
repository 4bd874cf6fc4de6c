/** `env`: the child's whole environment. Nothing of the parent's leaks in unless passed. */
import { InvalidOptionTypeError } from '../errors.js';
import { objectOption } from './checks.js';
import { checkArgString } from './exec-limits.js';

export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export function buildEnv(value: unknown, name = 'env'): string[] {
  const obj = objectOption(value, name) ?? {};
  const entries: string[] = [];
  let hasPath = false;
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new InvalidOptionTypeError(`${name}`, `has an invalid variable name ${JSON.stringify(key)}`);
    }
    if (typeof v !== 'string') {
      throw new InvalidOptionTypeError(`${name}.${key}`, `must be a string, got ${typeof v}`);
    }
    if (v.includes('\0')) throw new InvalidOptionTypeError(`${name}.${key}`, 'must not contain NUL bytes');
    if (key === 'PATH') hasPath = true;
    const entry = `${key}=${v}`;
    checkArgString(entry, `${name}.${key}`);
    entries.push(entry);
  }
  if (!hasPath) entries.push(`PATH=${DEFAULT_PATH}`);
  return entries;
}
