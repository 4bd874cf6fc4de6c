/** `hatchery run [flags] -- FILE [ARGS...]`: each flag maps to exactly one run() option. */
import { parseArgs } from 'node:util';
import { isHatcheryError, signalNumber } from '../errors.js';
import type { RunOptions } from '../spawn/run.js';
import { run } from '../spawn/run.js';
import { spawn } from '../spawn/spawn.js';

export const runHelp = `Usage: hatchery run [options] -- FILE [ARGS...]

Runs FILE in a fresh child hatched by a zygote and streams its stdout and
stderr through. Exits with the child's exit code, or 128+signal.

Options:
  --timeout SEC       wall-clock limit in seconds (fractions allowed); the tree
                      gets SIGTERM, then SIGKILL after 2 s          -> timeoutMs
  --max-output BYTES  per-stream output cap; past it the tree is killed
                                                                    -> maxOutputBytes
  --memory BYTES      address-space limit (RLIMIT_AS)               -> limits.memoryBytes
  --cpu SEC           CPU-time limit (RLIMIT_CPU)                   -> limits.cpuSeconds
  --cwd DIR           working directory                             -> cwd
  --env K=V           set a variable in the child's environment; repeatable.
                      Nothing of this shell's environment is passed  -> env
  --json              print the Result as JSON on stdout instead of streaming
  -h, --help          show this help

Exit codes: the child's code; 128+N when signal N ended it; 125 when hatchery
itself failed (the error code and reason go to stderr); 126 when FILE cannot
be executed; 127 when FILE is not found.
`;

interface ParsedRun {
  options: RunOptions;
  json: boolean;
  file: string;
  args: string[];
}

class UsageError extends Error {}

function parseNumber(flag: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
    throw new UsageError(`--${flag} expects a ${integer ? 'non-negative integer' : 'non-negative number'}, got '${value}'`);
  }
  return n;
}

export function parseRunArgs(argv: readonly string[]): ParsedRun | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      timeout: { type: 'string' },
      'max-output': { type: 'string' },
      memory: { type: 'string' },
      cpu: { type: 'string' },
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const [file, ...args] = positionals;
  if (file === undefined) throw new UsageError('missing FILE: hatchery run [options] -- FILE [ARGS...]');
  const options: RunOptions = {};
  const limits: NonNullable<RunOptions['limits']> = {};
  if (values.timeout !== undefined) options.timeoutMs = Math.max(1, Math.round(parseNumber('timeout', values.timeout, false) * 1000));
  if (values['max-output'] !== undefined) options.maxOutputBytes = parseNumber('max-output', values['max-output'], true);
  if (values.memory !== undefined) limits.memoryBytes = parseNumber('memory', values.memory, true);
  if (values.cpu !== undefined) limits.cpuSeconds = parseNumber('cpu', values.cpu, true);
  if (Object.keys(limits).length > 0) options.limits = limits;
  if (values.cwd !== undefined) options.cwd = values.cwd;
  if (values.env !== undefined) {
    const env: Record<string, string> = {};
    for (const kv of values.env) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env expects NAME=VALUE, got '${kv}'`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    options.env = env;
  }
  return { options, json: values.json === true, file, args };
}

function exitCodeFor(exitCode: number | null, signal: string | null): number {
  if (exitCode !== null) return exitCode;
  return 128 + (signal === null ? 0 : (signalNumber(signal as NodeJS.Signals) ?? 0));
}

function reportError(error: unknown): number {
  if (isHatcheryError(error)) {
    if (error.code === 'EXEC_FAILED' && 'stage' in error && error.stage === 'exec') {
      process.stderr.write(`hatchery: ${error.code}: ${error.message}\n`);
      return error.errnoName === 'ENOENT' ? 127 : 126;
    }
    process.stderr.write(`hatchery: ${error.code}: ${error.message}\n`);
    return 125;
  }
  if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`hatchery run: ${error.message}\n(see hatchery run --help)\n`);
    return 125;
  }
  throw error;
}

/** Stream mode: forward output as it comes, counting bytes against the cap. */
async function streamRun(parsed: ParsedRun): Promise<number> {
  const { maxOutputBytes, input: _input, encoding: _encoding, ...spawnOptions } = parsed.options;
  const child = await spawn(parsed.file, parsed.args, { ...spawnOptions, stdio: ['inherit', 'pipe', 'pipe'] });
  const cap = maxOutputBytes ?? Number.POSITIVE_INFINITY;
  let capped = false;
  const forward = (from: NodeJS.ReadableStream | null, to: NodeJS.WriteStream): Promise<void> =>
    new Promise((resolve) => {
      if (!from) return resolve();
      let seen = 0;
      from.on('data', (chunk: Buffer) => {
        if (capped && seen >= cap) return;
        const room = cap - seen;
        seen += chunk.length;
        if (chunk.length > room) {
          to.write(chunk.subarray(0, Math.max(0, room)));
          if (!capped) {
            capped = true;
            process.stderr.write(`hatchery: output exceeded ${cap} bytes; the process was killed\n`);
            child.killTree('SIGKILL');
          }
          return;
        }
        to.write(chunk);
      });
      from.on('close', () => resolve());
      from.on('error', () => resolve());
    });
  // Forward from the start: a child blocked on a full pipe would never exit.
  const forwarded = Promise.all([forward(child.stdout, process.stdout), forward(child.stderr, process.stderr)]);
  const status = await child.exited;
  await forwarded;
  if (status.timedOut) process.stderr.write(`hatchery: timed out after ${parsed.options.timeoutMs} ms\n`);
  return exitCodeFor(status.exitCode, status.signal);
}

export async function runCommand(argv: readonly string[]): Promise<number> {
  let parsed: ParsedRun | 'help';
  try {
    parsed = parseRunArgs(argv);
  } catch (e) {
    return reportError(e);
  }
  if (parsed === 'help') {
    process.stdout.write(runHelp);
    return 0;
  }
  try {
    if (!parsed.json) return await streamRun(parsed);
    const result = await run(parsed.file, parsed.args, parsed.options);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return exitCodeFor(result.exitCode, result.signal);
  } catch (e) {
    return reportError(e);
  }
}
