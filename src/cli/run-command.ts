/** `hatchery run [flags] -- FILE [ARGS...]`: each flag maps to exactly one run() option. */
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { isHatcheryError, signalNumber } from '../errors.js';
import type { SandboxOptions, NamespaceSet } from '../options/sandbox.js';
import type { RunOptions } from '../spawn/run.js';
import { run } from '../api/run.js';
import { spawn } from '../api/spawn.js';
import { forwardOutput } from '../spawn/forward-output.js';

export const runHelp = `Usage: hatchery run [options] -- FILE [ARGS...]

Runs FILE in a fresh sandboxed child hatched by a zygote and streams its
stdout and stderr through. Exits with the child's exit code, or 128+signal.
By default the child gets the default profile (see hatchery policy --explain).
Each option sets exactly one run() option, shown after the arrow.

Sandbox (repeatable path options take absolute, existing paths):
  --ro PATH           PATH read-only: readable, not executable
                                                      -> sandbox.fs.read
  --read PATH         same as --ro                    -> sandbox.fs.read
  --exec PATH         PATH readable and executable    -> sandbox.fs.exec
  --rw PATH           PATH readable and writable       -> sandbox.fs.write
  --net MODE          none | host | tcp-connect:PORT[,PORT...] | tcp-bind:PORT[,PORT...];
                      tcp-* may be repeated and are merged  -> sandbox.net
  --no-pid-ns         no pid namespace               -> sandbox.namespaces.pid = false
  --net-ns            an empty network namespace      -> sandbox.namespaces.net = true
  --seccomp MODE      default | strict | off          -> sandbox.seccomp
  --strict            refuse to run unless everything requested is enforced
                      (the default)                   -> sandbox.mode = 'strict'
  --best-effort       run with what this kernel can enforce
                                                      -> sandbox.mode = 'best-effort'
  --tmpdir            a private temp dir as cwd/HOME/TMPDIR (the default)
                                                      -> sandbox.tmpdir = true
  --no-tmpdir         no private temp dir             -> sandbox.tmpdir = false
  --no-sandbox        turn every restriction off (limits still apply)
                                                      -> sandbox = false

Limits (SIZE accepts a K, M or G suffix, powers of 1024):
  --timeout SEC       wall-clock limit in seconds (fractions allowed); the tree
                      gets SIGTERM, then SIGKILL after 2 s  -> timeoutMs
  --memory SIZE       address-space limit (RLIMIT_AS); node gets a V8 heap
                      that fits (see docs/policy.md)        -> limits.memoryBytes
  --cpu SEC           CPU-time limit (RLIMIT_CPU)           -> limits.cpuSeconds
  --processes N       process limit (RLIMIT_NPROC)          -> limits.processes
  --open-files N      fd limit (RLIMIT_NOFILE)              -> limits.openFiles
  --file-size SIZE    largest file written (RLIMIT_FSIZE)   -> limits.fileSizeBytes
  --max-output SIZE   per-stream output cap; past it the tree is killed
                                                            -> maxOutputBytes

Process:
  --cwd DIR           working directory                     -> cwd
  --env K=V           set a variable in the child's environment; repeatable.
                      Nothing of this shell's environment is passed  -> env
  --pass-env NAME     copy NAME from this shell's environment; repeatable
                      (skipped when NAME is unset)          -> env
  --json              print the Result as JSON on stdout instead of streaming
  -h, --help          show this help

Exit codes: the child's code; 128+N when signal N ended it; 124 when --timeout
ended it (whatever it did on SIGTERM); 128+N when this command got signal N
(SIGINT, SIGTERM, SIGHUP: the tree is ended and cleaned up first); 125 when
hatchery itself failed (the error code and a one-line reason go to stderr);
126 when FILE cannot be executed; 127 when FILE is not found.
`;

export interface ParsedRun {
  options: RunOptions;
  json: boolean;
  file: string;
  args: string[];
}

/** A bad command line. Reported with exit code 125 like every hatchery failure. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

/** The options parseArgs knows for `run` (and `policy --explain`, which takes the same flags). */
export const runFlagSpec = {
  ro: { type: 'string', multiple: true },
  exec: { type: 'string', multiple: true },
  read: { type: 'string', multiple: true },
  rw: { type: 'string', multiple: true },
  net: { type: 'string', multiple: true },
  'no-pid-ns': { type: 'boolean' },
  'net-ns': { type: 'boolean' },
  seccomp: { type: 'string' },
  strict: { type: 'boolean' },
  'best-effort': { type: 'boolean' },
  tmpdir: { type: 'boolean' },
  'no-tmpdir': { type: 'boolean' },
  'no-sandbox': { type: 'boolean' },
  timeout: { type: 'string' },
  'max-output': { type: 'string' },
  memory: { type: 'string' },
  cpu: { type: 'string' },
  processes: { type: 'string' },
  'open-files': { type: 'string' },
  'file-size': { type: 'string' },
  cwd: { type: 'string' },
  env: { type: 'string', multiple: true },
  'pass-env': { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseNumber(flag: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
    throw new UsageError(`--${flag} expects a ${integer ? 'non-negative integer' : 'non-negative number'}, got '${value}'`);
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes, optionally with a K/M/G suffix (powers of 1024, an optional trailing B or iB). */
export function parseSize(flag: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*$/i.exec(value);
  if (!m) throw new UsageError(`--${flag} expects a size in bytes (e.g. 1048576, 64M, 2G), got '${value}'`);
  const bytes = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
  if (!Number.isSafeInteger(Math.round(bytes))) throw new UsageError(`--${flag} is too large: '${value}'`);
  return Math.round(bytes);
}

function parsePorts(spec: string, list: string): number[] {
  return list.split(',').map((p) => {
    const n = Number(p);
    if (p.trim() === '' || !Number.isInteger(n) || n < 1 || n > 65535) {
      throw new UsageError(`--net ${spec}: '${p}' is not a port between 1 and 65535`);
    }
    return n;
  });
}

/** Merges every --net flag into one sandbox.net value. */
export function parseNet(specs: readonly string[]): NonNullable<SandboxOptions['net']> {
  let simple: 'none' | 'host' | undefined;
  const connectTcp: number[] = [];
  const bindTcp: number[] = [];
  let tcp = false;
  for (const spec of specs) {
    if (spec === 'none' || spec === 'host') {
      if (simple !== undefined && simple !== spec) throw new UsageError(`--net ${simple} and --net ${spec} conflict`);
      simple = spec;
      continue;
    }
    const m = /^(tcp-connect|tcp-bind):(.+)$/.exec(spec);
    if (!m) throw new UsageError(`--net expects none, host, tcp-connect:PORT[,PORT] or tcp-bind:PORT[,PORT], got '${spec}'`);
    tcp = true;
    (m[1] === 'tcp-connect' ? connectTcp : bindTcp).push(...parsePorts(spec, m[2] as string));
  }
  if (simple !== undefined && tcp) throw new UsageError(`--net ${simple} cannot be combined with tcp-connect/tcp-bind`);
  if (simple !== undefined) return simple;
  const net: { connectTcp?: number[]; bindTcp?: number[] } = {};
  if (connectTcp.length > 0) net.connectTcp = [...new Set(connectTcp)];
  if (bindTcp.length > 0) net.bindTcp = [...new Set(bindTcp)];
  return net;
}

type RunFlagValues = {
  [K in keyof typeof runFlagSpec]?: (typeof runFlagSpec)[K] extends { multiple: true }
    ? string[]
    : (typeof runFlagSpec)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** The options object the flags describe (everything but FILE, ARGS and --json). */
export function optionsFromFlags(values: RunFlagValues, environment: NodeJS.ProcessEnv = process.env): RunOptions {
  const options: RunOptions = {};
  const limits: NonNullable<RunOptions['limits']> = {};
  if (values.timeout !== undefined) options.timeoutMs = Math.max(1, Math.round(parseNumber('timeout', values.timeout, false) * 1000));
  if (values['max-output'] !== undefined) options.maxOutputBytes = parseSize('max-output', values['max-output']);
  if (values.memory !== undefined) limits.memoryBytes = parseSize('memory', values.memory);
  if (values.cpu !== undefined) limits.cpuSeconds = parseNumber('cpu', values.cpu, true);
  if (values.processes !== undefined) limits.processes = parseNumber('processes', values.processes, true);
  if (values['open-files'] !== undefined) limits.openFiles = parseNumber('open-files', values['open-files'], true);
  if (values['file-size'] !== undefined) limits.fileSizeBytes = parseSize('file-size', values['file-size']);
  if (Object.keys(limits).length > 0) options.limits = limits;
  if (values.cwd !== undefined) options.cwd = values.cwd;

  if (values.env !== undefined || values['pass-env'] !== undefined) {
    const env: Record<string, string> = {};
    for (const name of values['pass-env'] ?? []) {
      if (!/^[^=\0]+$/.test(name)) throw new UsageError(`--pass-env expects a variable name, got '${name}'`);
      const value = environment[name];
      if (value !== undefined) env[name] = value;
    }
    for (const kv of values.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env expects NAME=VALUE, got '${kv}'`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    options.env = env;
  }

  const sandbox: SandboxOptions = {};
  const fs: NonNullable<SandboxOptions['fs']> = {};
  // --ro is read-only (Landlock read rights without execute); only --exec grants execution.
  const read = [...(values.ro ?? []), ...(values.read ?? [])];
  if (read.length > 0) fs.read = read;
  if (values.exec !== undefined) fs.exec = [...values.exec];
  if (values.rw !== undefined) fs.write = [...values.rw];
  if (Object.keys(fs).length > 0) sandbox.fs = fs;
  if (values.net !== undefined) sandbox.net = parseNet(values.net);
  const namespaces: Partial<NamespaceSet> = {};
  if (values['no-pid-ns']) namespaces.pid = false;
  if (values['net-ns']) namespaces.net = true;
  if (Object.keys(namespaces).length > 0) sandbox.namespaces = namespaces;
  if (values.seccomp !== undefined) {
    if (values.seccomp !== 'default' && values.seccomp !== 'strict' && values.seccomp !== 'off') {
      throw new UsageError(`--seccomp expects default, strict or off, got '${values.seccomp}'`);
    }
    sandbox.seccomp = values.seccomp;
  }
  if (values.strict && values['best-effort']) throw new UsageError('--strict and --best-effort conflict');
  if (values.strict) sandbox.mode = 'strict';
  if (values['best-effort']) sandbox.mode = 'best-effort';
  if (values.tmpdir && values['no-tmpdir']) throw new UsageError('--tmpdir and --no-tmpdir conflict');
  if (values.tmpdir) sandbox.tmpdir = true;
  if (values['no-tmpdir']) sandbox.tmpdir = false;

  if (values['no-sandbox']) {
    const set = Object.keys(sandbox);
    if (set.length > 0) throw new UsageError(`--no-sandbox cannot be combined with sandbox flags (${set.join(', ')})`);
    options.sandbox = false;
  } else if (Object.keys(sandbox).length > 0) {
    options.sandbox = sandbox;
  }
  return options;
}

/** argv (after `run`) -> the run() call it describes. Exported so tests can prove the mapping. */
export function parseRunArgs(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): ParsedRun | 'help' {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: runFlagSpec });
  if (values.help) return 'help';
  const [file, ...args] = positionals;
  if (file === undefined) throw new UsageError('missing FILE: hatchery run [options] -- FILE [ARGS...]');
  return { options: optionsFromFlags(values, environment), json: values.json === true, file, args };
}

/** The child's exit code, or 128 + N when signal N ended it (named, or 'SIG40' for one Node has no name for). */
export function exitCodeFor(exitCode: number | null, signal: string | null): number {
  if (exitCode !== null) return exitCode;
  if (signal === null) return 128;
  const numbered = /^SIG(\d+)$/.exec(signal);
  return 128 + (numbered ? Number(numbered[1]) : (signalNumber(signal as NodeJS.Signals) ?? 0));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Writes the one-line reason and returns the exit code for a failure (rethrows bugs). */
export function reportError(error: unknown, command = 'run'): number {
  if (isHatcheryError(error)) {
    process.stderr.write(`hatchery: ${error.code}: ${oneLine(error.message)}\n`);
    if (error.code === 'EXEC_FAILED' && 'stage' in error && error.stage === 'exec') {
      return error.errnoName === 'ENOENT' || error.errnoName === 'ENOTDIR' ? 127 : 126;
    }
    return 125;
  }
  if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`hatchery: USAGE: ${oneLine(error.message)} (see hatchery ${command} --help)\n`);
    return 125;
  }
  throw error;
}

/** The exit code of a run that hit its --timeout, whatever the program did on SIGTERM (as coreutils' timeout). */
export const TIMED_OUT_EXIT_CODE = 124;

/** How long a program that ignores SIGPIPE may go on writing into a reader that is gone. */
const BROKEN_PIPE_GRACE_MS = 1000;

/**
 * Stream mode: forward output as it comes, counting bytes against the cap.
 * A reader slower than the program holds the program back (the pipe fills)
 * rather than this process's memory; a reader that goes away (EPIPE) ends
 * the tree with SIGPIPE, as a shell pipeline would, and SIGKILL after
 * BROKEN_PIPE_GRACE_MS if it ignores that.
 */
async function streamRun(parsed: ParsedRun, signal: AbortSignal): Promise<number> {
  const { maxOutputBytes, input: _input, encoding: _encoding, ...spawnOptions } = parsed.options;
  const child = await spawn(parsed.file, parsed.args, { ...spawnOptions, signal, stdio: ['inherit', 'pipe', 'pipe'] });
  const cap = maxOutputBytes ?? Number.POSITIVE_INFINITY;
  let capped = false;
  let readerGone = false;
  const forward = (from: Readable | null, to: NodeJS.WriteStream): Promise<void> =>
    new Promise((resolve) => {
      if (!from) return resolve();
      let seen = 0;
      let broken = false;
      to.on('error', () => {
        // EPIPE and the like: nothing more goes there; what the program still writes is read and dropped.
        if (broken) return;
        broken = true;
        from.resume();
        if (!readerGone) {
          readerGone = true;
          child.killTree('SIGPIPE');
          setTimeout(() => child.killTree('SIGKILL'), BROKEN_PIPE_GRACE_MS).unref();
        }
      });
      const write = (chunk: Buffer): void => {
        if (!broken && chunk.length > 0) forwardOutput(from, chunk, to);
      };
      from.on('data', (chunk: Buffer) => {
        if (capped && seen >= cap) return;
        const room = cap - seen;
        seen += chunk.length;
        if (chunk.length > room) {
          write(chunk.subarray(0, Math.max(0, room)));
          if (!capped) {
            capped = true;
            process.stderr.write(`hatchery: output exceeded ${cap} bytes; the process was killed\n`);
            child.killTree('SIGKILL');
          }
          return;
        }
        write(chunk);
      });
      from.on('close', () => resolve());
      from.on('error', () => resolve());
    });
  const forwarded = Promise.all([forward(child.stdout, process.stdout), forward(child.stderr, process.stderr)]);
  const status = await child.exited;
  await forwarded;
  if (status.timedOut) {
    process.stderr.write(`hatchery: timed out after ${parsed.options.timeoutMs} ms\n`);
    return TIMED_OUT_EXIT_CODE;
  }
  return exitCodeFor(status.exitCode, status.signal);
}

/** The signals that end `hatchery run` early: the tree is ended and its temp dir removed before the CLI exits. */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `body` with SIGINT, SIGTERM and SIGHUP turned into an abort of the
 * run (the tree gets its kill signal, then SIGKILL after the grace, and
 * what it left is removed); the CLI then exits 128+N. A second such signal
 * exits at once, leaving the tree to the zygote's parent-death handling.
 */
async function interruptible(body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    const code = 128 + (signalNumber(name) ?? 0);
    if (received !== undefined) process.exit(code);
    received = name;
    controller.abort();
  };
  for (const name of INTERRUPTS) process.on(name, onSignal);
  try {
    const code = await body(controller.signal);
    return received === undefined ? code : 128 + (signalNumber(received) ?? 0);
  } finally {
    for (const name of INTERRUPTS) process.off(name, onSignal);
  }
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
  const ready = parsed;
  // hatchery's own one-line reports must not throw into the CLI when stderr is gone.
  process.stderr.on('error', () => {});
  try {
    return await interruptible(async (signal) => {
      if (!ready.json) return streamRun(ready, signal);
      const result = await run(ready.file, ready.args, { ...ready.options, signal });
      process.stdout.on('error', () => {});
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return result.timedOut ? TIMED_OUT_EXIT_CODE : exitCodeFor(result.exitCode, result.signal);
    });
  } catch (e) {
    return reportError(e);
  }
}
