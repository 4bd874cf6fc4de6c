/**
 * How much argv and environment fits in one SPAWN request. The zygote
 * protocol (src/protocol/wire.ts) carries at most MAX_ARGS argv entries,
 * MAX_ENV environment entries and MAX_MESSAGE bytes per request; past them
 * the encoder would fail with PROTOCOL, which reads like a hatchery bug. These
 * checks turn an oversized `args` or `env` into an INVALID_OPTION naming the
 * option, the number and the limit, before anything is sent.
 */
import { InvalidOptionRangeError } from '../errors.js';
import { HEADER_SIZE, MAX_ARGS, MAX_ENV, MAX_MESSAGE, TLV_ALIGN, TLV_HEADER_SIZE, encodeSpawn, type SpawnPlan } from '../protocol/wire.js';

/** Bytes one string takes in a SPAWN request: a TLV record of its UTF-8 bytes and NUL, padded. */
export function stringRecordBytes(s: string): number {
  return TLV_HEADER_SIZE + Math.ceil((Buffer.byteLength(s, 'utf8') + 1) / TLV_ALIGN) * TLV_ALIGN;
}

function recordsBytes(list: readonly string[]): number {
  let total = 0;
  for (const s of list) total += stringRecordBytes(s);
  return total;
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KiB (${bytes} bytes)`;
}

/** The most a request's argv and env can take: the message less its header and the program's own record. */
function budgetFor(file: string): number {
  return MAX_MESSAGE - HEADER_SIZE - stringRecordBytes(file);
}

/** Early check of the caller's arguments (argv[0] is the program, so one slot less). */
export function checkArgs(file: string, args: readonly string[]): void {
  if (args.length + 1 > MAX_ARGS) {
    throw new InvalidOptionRangeError(
      'args',
      `has ${args.length} arguments; at most ${MAX_ARGS - 1} fit (a spawn request carries ${MAX_ARGS} argv entries, the program name included)`,
    );
  }
  const bytes = recordsBytes([file, ...args]);
  if (bytes > budgetFor(file)) {
    throw new InvalidOptionRangeError(
      'args',
      `takes ${kib(bytes)} encoded; a spawn request holds at most ${kib(budgetFor(file))} of arguments and environment together (its limit is ${MAX_MESSAGE} bytes)`,
    );
  }
}

/** Early check of the environment entries ('NAME=value'). */
export function checkEnv(entries: readonly string[], name = 'env'): void {
  if (entries.length > MAX_ENV) {
    throw new InvalidOptionRangeError(name, `has ${entries.length} variables; a spawn request carries at most ${MAX_ENV}`);
  }
  const bytes = recordsBytes(entries);
  if (bytes > MAX_MESSAGE - HEADER_SIZE) {
    throw new InvalidOptionRangeError(
      name,
      `takes ${kib(bytes)} encoded; a spawn request holds at most ${kib(MAX_MESSAGE - HEADER_SIZE)} of arguments and environment together`,
    );
  }
}

/**
 * The final check, on the plan about to be sent: what hatchery added (the
 * temp dir's HOME and TMPDIR, Node flags under limits.memoryBytes) and the
 * sandbox's own records (Landlock paths, seccomp program, mounts) share the
 * request with the caller's args and env. `callerArgs`/`callerEnv` are the
 * counts the caller passed, to say what hatchery added.
 */
export function checkPlanFits(plan: SpawnPlan, callerArgs: number, callerEnv: number): void {
  const addedArgs = plan.argv.length - 1 - callerArgs;
  const addedEnv = plan.env.length - callerEnv;
  if (plan.argv.length > MAX_ARGS) {
    throw new InvalidOptionRangeError(
      'args',
      `has ${callerArgs} arguments; with the program name${addedArgs > 0 ? ` and the ${addedArgs} Node flags hatchery adds under limits.memoryBytes` : ''} that is ${plan.argv.length} argv entries, more than the ${MAX_ARGS} a spawn request carries`,
    );
  }
  if (plan.env.length > MAX_ENV) {
    throw new InvalidOptionRangeError(
      'env',
      `has ${callerEnv} variables${addedEnv > 0 ? ` and hatchery adds ${addedEnv} (such as HOME and TMPDIR for the private temp dir)` : ''}: ${plan.env.length}, more than the ${MAX_ENV} a spawn request carries`,
    );
  }
  const argBytes = recordsBytes(plan.argv);
  const envBytes = recordsBytes(plan.env);
  // Everything else in a request is small unless the sandbox policy is huge; only then is it worth encoding twice.
  if (HEADER_SIZE + argBytes + envBytes <= MAX_MESSAGE / 2) return;
  const rest = encodeSpawn(0, { ...plan, argv: [], env: [] }).length;
  const total = rest + argBytes + envBytes;
  if (total <= MAX_MESSAGE) return;
  const option = argBytes >= envBytes ? 'args' : 'env';
  throw new InvalidOptionRangeError(
    option,
    `${option === 'args' ? 'are' : 'is'} too large: ${kib(argBytes)} of arguments and ${kib(envBytes)} of environment, encoded, ` +
      `plus ${kib(rest)} for the rest of the spawn request (program, cwd, limits, sandbox policy) is ${total} bytes; ` +
      `a spawn request holds at most ${MAX_MESSAGE} bytes, so at most ${kib(MAX_MESSAGE - rest)} of arguments and environment fit`,
  );
}
