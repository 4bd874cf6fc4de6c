/**
 * Type tests of the public API: compiled with `tsc --noEmit -p test/types`
 * by test/types.test.ts. Every `@ts-expect-error` line is misuse that must
 * not compile; if one starts compiling, tsc reports the unused directive and
 * the test fails. Nothing here is ever called.
 */
import {
  createPool,
  createWorkerPool,
  WorkerInput,
  HatcheryError,
  InvalidOptionRangeError,
  InvalidOptionTypeError,
  isHatcheryError,
  run,
  spawn,
  type ExitStatus,
  type HatcheryErrorCode,
  type LimitName,
  type Pool,
  type PoolOptions,
  type PoolStats,
  type Limits,
  type ProcessHandle,
  type Result,
  type RunBufferOptions,
  type RunOptions,
  type SpawnOptions,
} from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_: T): void {}

type Sandbox = Exclude<NonNullable<RunOptions['sandbox']>, false>;

export async function results(): Promise<void> {
  const r = await run('echo', ['hi']);
  assertType<Equal<typeof r, Result<string>>>(true);
  const text: string = r.stdout;
  const code: number | null = r.exitCode;
  const limit: LimitName | null = r.limit;
  const truncated: boolean = r.truncated.stdout || r.truncated.stderr;
  const ns: string[] = r.enforcement.namespaces;
  const status: ExitStatus = r;
  void [text, code, limit, truncated, ns, status];

  const b = await run('cat', [], { encoding: 'buffer', input: Buffer.from('x') });
  assertType<Equal<typeof b.stdout, Buffer>>(true);
  // @ts-expect-error a Buffer result has no string stdout
  const notText: string = b.stdout;
  void notText;

  // Options typed through a variable: a RunOptions gives strings, only encoding 'buffer' gives Buffers.
  const opts: RunOptions = { timeoutMs: 1000, limits: { memoryBytes: 1 << 28 } };
  const viaVariable = await run('echo', ['hi'], opts);
  assertType<Equal<typeof viaVariable, Result<string>>>(true);
  const hex: RunOptions = { encoding: 'hex' };
  const asHex = await run('echo', [], hex);
  assertType<Equal<typeof asHex, Result<string>>>(true);
  const bufferOpts: RunBufferOptions = { encoding: 'buffer', timeoutMs: 1000 };
  const viaBufferVariable = await run('cat', [], bufferOpts);
  assertType<Equal<typeof viaBufferVariable, Result<Buffer>>>(true);
  const literalBuffer = await run('cat', undefined, { encoding: 'buffer' });
  assertType<Equal<typeof literalBuffer, Result<Buffer>>>(true);
  const noOptions = await run('true');
  assertType<Equal<typeof noOptions, Result<string>>>(true);
  const either: RunOptions | RunBufferOptions = Math.random() > 0.5 ? opts : bufferOpts;
  const viaUnion = await run('cat', [], either);
  assertType<Equal<typeof viaUnion, Result<string | Buffer>>>(true);
  const fromPool = await createPool().run('echo', [], opts);
  assertType<Equal<typeof fromPool, Result<string>>>(true);
  const bufferFromPool = await createPool().run('cat', [], bufferOpts);
  assertType<Equal<typeof bufferFromPool, Result<Buffer>>>(true);
  // @ts-expect-error a RunOptions carries text encodings; 'buffer' is RunBufferOptions (whose results are Buffers)
  const mislabelled: RunOptions = { encoding: 'buffer' };
  void mislabelled;
  // @ts-expect-error a RunBufferOptions must say encoding: 'buffer'
  const unlabelled: RunBufferOptions = { timeoutMs: 1 };
  void unlabelled;
  // @ts-expect-error a string result is not a Buffer
  const notBuffer: Buffer = viaVariable.stdout;
  void notBuffer;

  // @ts-expect-error Result has no `code` (it is exitCode)
  void r.code;
  // @ts-expect-error exitCode is read-only data, not a function
  r.exitCode();
}

export async function options(): Promise<void> {
  const full: RunOptions = {
    env: { PATH: '/usr/bin' },
    cwd: '/tmp',
    timeoutMs: 1000,
    killSignal: 'SIGTERM',
    killGraceMs: 500,
    signal: AbortSignal.timeout(1000),
    limits: { cpuSeconds: 1, memoryBytes: 1 << 26, fileSizeBytes: 1024, openFiles: 64, processes: 16 },
    maxOutputBytes: 1024,
    input: 'data',
    encoding: 'utf8',
    sandbox: {
      fs: { read: ['/etc/hosts'], write: ['/var/tmp'], exec: ['/opt/tool'] },
      net: { connectTcp: [443], bindTcp: [8080] },
      namespaces: { pid: false, net: true },
      seccomp: { deny: ['ptrace'] },
      mode: 'best-effort',
      tmpdir: false,
    },
  };
  void full;
  const off: RunOptions = { sandbox: false };
  const auto: Sandbox = { namespaces: 'auto', net: 'none', seccomp: 'strict', mode: 'strict' };
  void [off, auto];

  // @ts-expect-error timeoutMs is a number of milliseconds, not a string
  await run('true', [], { timeoutMs: '5s' });
  // @ts-expect-error unknown option
  await run('true', [], { timeout: 5 });
  // @ts-expect-error sandbox: true is not a policy (omit it for the default profile)
  await run('true', [], { sandbox: true });
  // @ts-expect-error net is 'none' | 'host' | { connectTcp, bindTcp }
  await run('true', [], { sandbox: { net: 'all' } });
  // @ts-expect-error ports are numbers
  await run('true', [], { sandbox: { net: { connectTcp: ['443'] } } });
  // @ts-expect-error seccomp modes are 'default' | 'strict' | 'off' | { deny, allow }
  await run('true', [], { sandbox: { seccomp: 'lax' } });
  // @ts-expect-error mode is 'strict' | 'best-effort'
  await run('true', [], { sandbox: { mode: 'lenient' } });
  // @ts-expect-error fs paths are arrays
  await run('true', [], { sandbox: { fs: { read: '/etc' } } });
  // @ts-expect-error limits use their full names
  const badLimits: Limits = { memory: 1 };
  void badLimits;
  // @ts-expect-error args are an array of strings
  await run('echo', 'hi');
  // @ts-expect-error args are strings
  await run('echo', [1]);
  // @ts-expect-error input is not a spawn() option
  const spawnOpts: SpawnOptions = { input: 'x' };
  void spawnOpts;
}

export async function handles(): Promise<void> {
  const child: ProcessHandle = await spawn('sleep', ['1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid: number = child.pid;
  const status: ExitStatus = await child.exited;
  void [pid, status];
  // @ts-expect-error stdio modes are 'pipe' | 'ignore' | 'inherit'
  await spawn('true', [], { stdio: 'overlapped' });
}

export function errors(e: unknown): void {
  if (isHatcheryError(e)) {
    const code: HatcheryErrorCode = e.code;
    void code;
  }
  if (e instanceof HatcheryError) {
    switch (e.code) {
      case 'EXEC_FAILED':
        void [e.stage, e.errno, e.errnoName];
        break;
      case 'SANDBOX_UNAVAILABLE':
        void e.missing;
        break;
      case 'ZYGOTE_DIED':
      case 'PROTOCOL':
      case 'INVALID_OPTION':
      case 'ABORTED':
      case 'QUEUE_FULL':
      case 'QUEUE_TIMEOUT':
      case 'CLOSED':
      case 'WORKER_CRASHED':
      case 'WORKER_BOOT_FAILED':
      case 'WORKER_PROTOCOL':
      case 'REPLY_TOO_LARGE':
      case 'UNKNOWN_EXPORT':
      case 'TIMEOUT':
      case 'NATIVE_UNAVAILABLE':
        break;
      default: {
        const exhaustive: never = e.code;
        void exhaustive;
      }
    }
    // @ts-expect-error not one of the stable codes
    const bogus: HatcheryErrorCode = 'ENOENT';
    void bogus;
  }
  if (e instanceof InvalidOptionTypeError || e instanceof InvalidOptionRangeError) {
    const c: 'INVALID_OPTION' = e.code;
    const option: string = e.option;
    void [c, option];
  }
  assertType<Equal<InvalidOptionTypeError['code'], 'INVALID_OPTION'>>(true);
  // @ts-expect-error an InvalidOptionTypeError is a TypeError, not a RangeError
  const asRange: RangeError & { code: 'x' } = new InvalidOptionTypeError('x', 'y');
  void asRange;
}

export async function pools(): Promise<void> {
  const options: PoolOptions = {
    minZygotes: 1,
    maxZygotes: 2,
    idleTimeoutMs: 1000,
    maxConcurrency: 8,
    maxQueue: 100,
    queueTimeoutMs: 5000,
    sandbox: { net: 'none' },
    limits: { cpuSeconds: 5 },
    spawnTimeoutMs: 5000,
  };
  const pool: Pool = createPool(options);
  const r = await pool.run('true');
  assertType<Equal<typeof r, Result<string>>>(true);
  const stats: PoolStats = pool.stats();
  const started: number = stats.totals.started;
  void started;
  pool.reconfigure({ limits: { cpuSeconds: 1 } });
  await pool.close({ graceMs: 100 });
  // @ts-expect-error maxConcurrency is a number
  createPool({ maxConcurrency: 'many' });
  // @ts-expect-error unknown pool option
  createPool({ workers: 4 });
  // @ts-expect-error close takes { graceMs }
  await pool.close(100);
}

export async function workers(): Promise<void> {
  const pool = createWorkerPool({ module: '/abs/worker.mjs', warm: 2, maxWorkers: 4, reuse: 1, timeoutMs: 1000, sandbox: { net: 'none' }, limits: { cpuSeconds: 5 } });
  const value: unknown = await pool.call('double', 21, WorkerInput.file('/etc/hostname'));
  void value;
  createWorkerPool({ module: new URL('file:///abs/worker.mjs') });
  await pool.close();
  // @ts-expect-error module is required
  createWorkerPool({ warm: 1 });
  // @ts-expect-error warm is a number
  createWorkerPool({ module: '/abs/worker.mjs', warm: 'two' });
  // @ts-expect-error the export name is a string
  await pool.call(42);
}
