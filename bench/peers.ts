/**
 * Peer libraries measured beside hatchery, each used the way its README
 * shows, so the number is what one of its users pays per command:
 *
 * - execa: `await execa(file)` with its defaults (it buffers the output).
 * - @anthropic-ai/sandbox-runtime: `SandboxManager.initialize(config)` once,
 *   then per command `SandboxManager.wrapWithSandbox(command)` and
 *   `child_process.spawn(wrapped, { shell: true })`. It wraps bubblewrap on
 *   Linux and needs bwrap, socat and ripgrep; without them it is n/a with
 *   the library's own reason.
 *
 * Both are devDependencies, loaded with a dynamic import so the bench still
 * runs (reporting n/a) where they are not installed.
 */
import { spawn } from 'node:child_process';
import { NAMES, TRUE_BIN, withTimeout, type NodeContender, type Unavailable } from './contenders.js';

export interface PreparedPeers {
  ready: NodeContender[];
  unavailable: Unavailable[];
  close: () => Promise<void>;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] ?? error.message : String(error);
}

type Execa = (file: string, args?: readonly string[]) => Promise<{ exitCode?: number }>;

async function prepareExeca(opTimeoutMs: number): Promise<NodeContender | Unavailable> {
  let execa: Execa;
  try {
    const mod = (await import('execa')) as unknown as { execa: Execa };
    execa = mod.execa;
  } catch (error) {
    return { name: NAMES.execa, reason: `cannot load execa (npm install -D execa): ${describe(error)}` };
  }
  const once = async (): Promise<void> => {
    const r = await execa(TRUE_BIN);
    if (r.exitCode !== 0) throw new Error(`execa: /bin/true exited ${String(r.exitCode)}`);
  };
  try {
    await withTimeout(once(), opTimeoutMs, NAMES.execa);
  } catch (error) {
    return { name: NAMES.execa, reason: describe(error) };
  }
  return { name: NAMES.execa, once, note: 'await execa(file) with default options (output buffered)' };
}

interface SandboxManagerLike {
  initialize(config: unknown): Promise<void>;
  wrapWithSandbox(command: string): Promise<string>;
  reset(): Promise<void>;
}

/** Runs of the sandbox-runtime contender per round, relative to the others: it takes ~50 ms per command. */
const SANDBOX_RUNTIME_SHARE = 0.2;

async function prepareSandboxRuntime(opTimeoutMs: number): Promise<{ contender: NodeContender | Unavailable; close: () => Promise<void> }> {
  const name = NAMES.sandboxRuntime;
  let manager: SandboxManagerLike;
  try {
    const mod = (await import('@anthropic-ai/sandbox-runtime')) as unknown as { SandboxManager: SandboxManagerLike };
    manager = mod.SandboxManager;
  } catch (error) {
    return { contender: { name, reason: `cannot load it (npm install -D @anthropic-ai/sandbox-runtime): ${describe(error)}` }, close: async () => {} };
  }
  // The tightest configuration it offers: no domain allowed, nothing extra writable.
  const config = {
    network: { allowedDomains: [], deniedDomains: [] },
    filesystem: { denyRead: [], allowWrite: [], denyWrite: [] },
  };
  try {
    await withTimeout(manager.initialize(config), opTimeoutMs, `${name} initialize`);
  } catch (error) {
    return { contender: { name, reason: `SandboxManager.initialize failed: ${describe(error)}` }, close: async () => {} };
  }
  const close = async (): Promise<void> => {
    await manager.reset().catch(() => {});
  };
  const once = async (): Promise<void> => {
    const wrapped = await manager.wrapWithSandbox(TRUE_BIN);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(wrapped, { shell: true, stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`${name}: /bin/true ended with code ${String(code)}, signal ${String(signal)}`)),
      );
    });
  };
  try {
    await withTimeout(once(), opTimeoutMs, name);
  } catch (error) {
    await close();
    return { contender: { name, reason: describe(error) }, close: async () => {} };
  }
  return {
    contender: {
      name,
      once,
      share: SANDBOX_RUNTIME_SHARE,
      note: `SandboxManager.wrapWithSandbox + spawn({ shell: true }) per command (bubblewrap underneath); ${SANDBOX_RUNTIME_SHARE * 100}% of the runs of the others`,
    },
    close,
  };
}

export async function preparePeers(opTimeoutMs: number): Promise<PreparedPeers> {
  const ready: NodeContender[] = [];
  const unavailable: Unavailable[] = [];
  const execa = await prepareExeca(opTimeoutMs);
  if ('once' in execa) ready.push(execa);
  else unavailable.push(execa);
  const srt = await prepareSandboxRuntime(opTimeoutMs);
  if ('once' in srt.contender) ready.push(srt.contender);
  else unavailable.push(srt.contender);
  return { ready, unavailable, close: srt.close };
}
