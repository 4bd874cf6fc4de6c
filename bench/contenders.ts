/**
 * The contenders measured inside a Node process (so at that process's heap
 * size): hatchery in its profiles, and child_process.spawn.
 *
 * hatchery is loaded with a dynamic import of a computed URL and called
 * through a loose local type: the bench must compile and run (reporting n/a)
 * whether or not src/ has the addon built or the `sandbox` option yet.
 */
import { spawn } from 'node:child_process';
import { preparePeers } from './peers.js';

export const TRUE_BIN = '/bin/true';

export const NAMES = {
  hatcheryNoSandbox: 'hatchery (no sandbox)',
  hatcheryDefault: 'hatchery (default profile)',
  hatcheryNoNetNs: 'hatchery (default, no net ns)',
  hatcheryNetNs: 'hatchery (default + net ns)',
  childProcess: 'child_process.spawn',
  execa: 'execa',
  sandboxRuntime: '@anthropic-ai/sandbox-runtime',
  floor: 'C posix_spawn floor',
  bwrap: 'bwrap',
} as const;

export const HATCHERY_CONTENDERS = [
  NAMES.hatcheryNoSandbox,
  NAMES.hatcheryDefault,
  NAMES.hatcheryNoNetNs,
  NAMES.hatcheryNetNs,
] as const;

/** The Node-side contenders, in the order they are listed. */
export const NODE_CONTENDERS = [...HATCHERY_CONTENDERS, NAMES.childProcess, NAMES.execa, NAMES.sandboxRuntime] as const;

export interface NodeContender {
  name: string;
  /** One round trip. hatchery returns the wall time its zygote saw (clone to reap), in ms. */
  once: () => Promise<number | void>;
  /** Something the reader of the results should know about how it was measured. */
  note?: string;
  /** hatchery: the namespaces its enforcement report says the child got. */
  namespaces?: string[];
  /** Fraction of each round's runs this contender gets (slow contenders); default 1. */
  share?: number;
}

export interface Unavailable {
  name: string;
  reason: string;
}

export interface Prepared {
  ready: NodeContender[];
  unavailable: Unavailable[];
  /** Stops what the contenders left running (hatchery's default zygote), if anything. */
  close: () => Promise<void>;
}

interface RunResultLike {
  exitCode?: unknown;
  wallMs?: unknown;
  signal?: unknown;
  enforcement?: unknown;
}

type RunLike = (file: string, args?: readonly string[], options?: Record<string, unknown>) => Promise<RunResultLike>;

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** Rejects if `promise` has not settled within `ms`. The timer never keeps Node alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface Hatchery {
  run: RunLike;
  close: () => Promise<void>;
}

async function loadHatchery(): Promise<Hatchery | string> {
  const url = new URL('../src/index.js', import.meta.url);
  let mod: unknown;
  try {
    mod = await import(url.href);
  } catch (error) {
    return `cannot load hatchery (${url.pathname}): ${describe(error)}`;
  }
  const { run, closeDefaultZygote } = mod as { run?: unknown; closeDefaultZygote?: unknown };
  if (typeof run !== 'function') return 'hatchery does not export run()';
  const close = async (): Promise<void> => {
    // The zygote also exits on its own when we do; closing it is only tidier.
    if (typeof closeDefaultZygote === 'function') await (closeDefaultZygote as () => Promise<void>)();
  };
  return { run: run as RunLike, close };
}

function namespacesOf(result: RunResultLike): string[] | undefined {
  const ns = (result.enforcement as { namespaces?: unknown } | null | undefined)?.namespaces;
  return Array.isArray(ns) && ns.every((n) => typeof n === 'string') ? (ns as string[]) : undefined;
}

function zygoteWallMs(result: RunResultLike): number | void {
  return typeof result.wallMs === 'number' ? result.wallMs : undefined;
}

function checkExit(result: RunResultLike, name: string): void {
  if (result.exitCode !== 0) {
    throw new Error(`${name}: /bin/true ended with exitCode ${String(result.exitCode)}, signal ${String(result.signal)}`);
  }
}

function childProcessOnce(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(TRUE_BIN, [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`child_process.spawn: /bin/true ended with code ${String(code)}, signal ${String(signal)}`));
    });
  });
}

/**
 * Loads and probes every Node-side contender once. A contender whose probe
 * fails is reported as unavailable with the reason, never as a crash.
 */
export async function prepareNodeContenders(opTimeoutMs: number): Promise<Prepared> {
  const ready: NodeContender[] = [];
  const unavailable: Unavailable[] = [];
  const loaded = await loadHatchery();
  let close = async (): Promise<void> => {};

  if (typeof loaded === 'string') {
    for (const name of HATCHERY_CONTENDERS) {
      unavailable.push({ name, reason: loaded });
    }
  } else {
    const run = loaded.run;
    close = loaded.close;
    const call = (name: string, options?: Record<string, unknown>) => async (): Promise<RunResultLike> => {
      const result = await withTimeout(
        options === undefined ? run(TRUE_BIN, []) : run(TRUE_BIN, [], options),
        opTimeoutMs,
        name,
      );
      checkExit(result, name);
      return result;
    };

    // The default profile first: whether it reports enforcement tells us if sandboxing exists at all.
    const defaultCall = call(NAMES.hatcheryDefault);
    let sandboxImplemented = false;
    try {
      const probe = await defaultCall();
      sandboxImplemented = probe.enforcement !== undefined && probe.enforcement !== null;
      if (sandboxImplemented) {
        ready.push({ name: NAMES.hatcheryDefault, once: async () => zygoteWallMs(await defaultCall()), namespaces: namespacesOf(probe) });
      }
      else unavailable.push({ name: NAMES.hatcheryDefault, reason: 'Result has no enforcement report: the sandbox is not implemented yet' });
    } catch (error) {
      unavailable.push({ name: NAMES.hatcheryDefault, reason: describe(error) });
    }

    const noSandboxCall = call(NAMES.hatcheryNoSandbox, { sandbox: false });
    try {
      await noSandboxCall();
      ready.push({ name: NAMES.hatcheryNoSandbox, once: async () => zygoteWallMs(await noSandboxCall()) });
    } catch (error) {
      // Before the sandbox exists, a plain run() is the unsandboxed path.
      if (errorCode(error) === 'INVALID_OPTION' && !sandboxImplemented) {
        try {
          await defaultCall();
          ready.push({
            name: NAMES.hatcheryNoSandbox,
            once: async () => zygoteWallMs(await defaultCall()),
            note: 'options.sandbox is not accepted yet; measured as plain run(), which is unsandboxed',
          });
        } catch (again) {
          unavailable.push({ name: NAMES.hatcheryNoSandbox, reason: describe(again) });
        }
      } else {
        unavailable.push({ name: NAMES.hatcheryNoSandbox, reason: describe(error) });
      }
    }

    // The net namespace is the known expensive one: measure the default with it forced off and on.
    const variants: Array<[string, Record<string, unknown>]> = [
      [NAMES.hatcheryNoNetNs, { sandbox: { namespaces: { net: false } } }],
      [NAMES.hatcheryNetNs, { sandbox: { namespaces: { net: true } } }],
    ];
    for (const [name, options] of variants) {
      if (!sandboxImplemented) {
        unavailable.push({ name, reason: 'the sandbox is not implemented yet' });
        continue;
      }
      const variantCall = call(name, options);
      try {
        const probe = await variantCall();
        ready.push({ name, once: async () => zygoteWallMs(await variantCall()), namespaces: namespacesOf(probe) });
      } catch (error) {
        unavailable.push({ name, reason: describe(error) });
      }
    }
  }

  try {
    await withTimeout(childProcessOnce(), opTimeoutMs, NAMES.childProcess);
    ready.push({ name: NAMES.childProcess, once: childProcessOnce });
  } catch (error) {
    unavailable.push({ name: NAMES.childProcess, reason: describe(error) });
  }

  const peers = await preparePeers(opTimeoutMs);
  ready.push(...peers.ready);
  unavailable.push(...peers.unavailable);
  const closeHatchery = close;
  close = async () => {
    await closeHatchery();
    await peers.close();
  };

  const order = (name: string): number => (NODE_CONTENDERS as readonly string[]).indexOf(name);
  ready.sort((a, b) => order(a.name) - order(b.name));
  unavailable.sort((a, b) => order(a.name) - order(b.name));
  return { ready, unavailable, close };
}

/** Nanoseconds of one call (monotonic clock), and what the call itself reported. */
async function timeOnce(once: () => Promise<number | void>): Promise<[number, number | void]> {
  const start = process.hrtime.bigint();
  const inner = await once();
  return [Number(process.hrtime.bigint() - start), inner];
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') gc();
}

export interface RoundResult {
  samples: Record<string, number[]>;
  /** hatchery only: the wall time its zygote reported per call (ms), to split zygote from Node-side cost. */
  zygoteWallMs: Record<string, number[]>;
  /** Contenders that failed during this round, with the reason; they are dropped from later rounds. */
  failures: Record<string, string>;
}

/**
 * Runs each ready contender `runs` times, one contender after another,
 * starting at a rotating offset so no contender always runs first. GC runs
 * between contenders so a collection does not land in one contender's samples.
 */
export async function measureRound(prepared: Prepared, runs: number, rotation: number): Promise<RoundResult> {
  const result: RoundResult = { samples: {}, zygoteWallMs: {}, failures: {} };
  const list = prepared.ready;
  const n = list.length;
  for (let k = 0; k < n; k++) {
    const contender = list[(k + rotation) % n] as NodeContender;
    collectGarbage();
    const samples: number[] = [];
    const inner: number[] = [];
    try {
      const own = Math.max(1, Math.ceil(runs * (contender.share ?? 1)));
      for (let i = 0; i < own; i++) {
        const [ns, reported] = await timeOnce(contender.once);
        samples.push(ns);
        if (typeof reported === 'number') inner.push(reported);
      }
      result.samples[contender.name] = samples;
      if (inner.length > 0) result.zygoteWallMs[contender.name] = inner;
    } catch (error) {
      result.failures[contender.name] = describe(error);
    }
  }
  for (const [name, reason] of Object.entries(result.failures)) {
    prepared.ready = prepared.ready.filter((c) => c.name !== name);
    prepared.unavailable.push({ name, reason: `failed while measuring: ${reason}` });
  }
  return result;
}

/** Warm-up calls, not recorded. A contender that fails here becomes unavailable. */
export async function warmUp(prepared: Prepared, runs: number): Promise<void> {
  if (runs > 0) await measureRound(prepared, runs, 0);
}
