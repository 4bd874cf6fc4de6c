// hatchery/bullmq without Redis: the job data check, the operator's profiles,
// failure classification, the worker command's flags, and the packaging
// (the subpath export, its types, and a main entry that never loads bullmq).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { UnrecoverableError, type Queue } from 'bullmq';
import { HatcheryError, InvalidOptionRangeError, InvalidOptionTypeError } from '../src/index.js';
import {
  addRun,
  checkJobCaps,
  checkJobShape,
  classifyError,
  failureCodeOf,
  JobDataError,
  loadPolicyFile,
  pickProfile,
  PolicyFileError,
  PROFILE_DEFAULTS,
  resolvePolicy,
  type QueuePolicy,
} from '../src/bullmq/index.js';
import { toJobError } from '../src/bullmq/failures.js';
import { Log, parseWorkerArgs, printable, redactUrl } from '../src/cli/worker-command.js';
import { UsageError } from '../src/cli/run-command.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'hatchery.js');

const refused = (field: string, pattern: RegExp) => (e: unknown) =>
  e instanceof JobDataError && e.field === field && pattern.test(e.message);

test('job data: only command, args, input, timeoutMs and profile, each of the right type', () => {
  assert.deepEqual(checkJobShape({ command: 'echo', args: ['a', 'b'], input: 'x', timeoutMs: 5, profile: 'py-3.12' }), {
    command: 'echo',
    args: ['a', 'b'],
    input: 'x',
    timeoutMs: 5,
    profile: 'py-3.12',
  });
  assert.deepEqual(checkJobShape({ command: 'true' }), { command: 'true', args: [], input: undefined, timeoutMs: undefined, profile: undefined });
  for (const key of ['sandbox', 'limits', 'env', 'cwd', 'maxOutputBytes', 'killSignal', 'stdio', 'signal']) {
    assert.throws(() => checkJobShape({ command: 'true', [key]: false }), refused('', new RegExp(`"${key}", which is not allowed \\(the sandbox, limits`)), key);
  }
  assert.throws(() => checkJobShape({ command: 'true', color: 'red' }), refused('', /"color", which is not allowed \(a job may set only these; allowed: command, args, input, timeoutMs, profile\)/));
  // JSON.parse makes __proto__ an own key: refused by name, and Object.prototype untouched.
  assert.throws(() => checkJobShape(JSON.parse('{"command":"true","__proto__":{"polluted":1}}')), refused('', /"__proto__", which is refused \(prototype pollution\)/));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.throws(() => checkJobShape({ command: 'true', constructor: {} }), refused('', /prototype pollution/));
  assert.throws(() => checkJobShape({ command: 'true', [Symbol('x')]: 1 }), refused('', /symbol keys/));
  for (const data of [null, 'true', ['true'], 42, new (class Data { command = 'true'; })()]) {
    assert.throws(() => checkJobShape(data), refused('', /must be an object/), String(data));
  }
  assert.throws(() => checkJobShape({}), refused('command', /non-empty string, got undefined/));
  assert.throws(() => checkJobShape({ command: '' }), refused('command', /non-empty string/));
  assert.throws(() => checkJobShape({ command: 'a\0b' }), refused('command', /NUL/));
  assert.throws(() => checkJobShape({ command: 'x'.repeat(4097) }), refused('command', /longer than 4096 bytes/));
  assert.throws(() => checkJobShape({ command: 'true', args: 'a b' }), refused('args', /array of strings/));
  assert.throws(() => checkJobShape({ command: 'true', args: ['a', 1] }), refused('args[1]', /must be a string, got 1/));
  // eslint-disable-next-line no-sparse-arrays
  assert.throws(() => checkJobShape({ command: 'true', args: ['a', , 'c'] }), refused('args[1]', /got undefined/));
  assert.throws(() => checkJobShape({ command: 'true', args: ['\0'] }), refused('args[0]', /NUL/));
  assert.throws(() => checkJobShape({ command: 'true', input: Buffer.from('x') }), refused('input', /must be a string/));
  for (const t of [0, -1, 1.5, '5', 2 ** 31, Number.NaN]) assert.throws(() => checkJobShape({ command: 'true', timeoutMs: t }), refused('timeoutMs', /./), String(t));
  for (const p of ['', '../x', 'a b', '-x', 'x'.repeat(65), 5]) assert.throws(() => checkJobShape({ command: 'true', profile: p }), refused('profile', /profile name/), String(p));
});

test('addRun refuses args that are not an array (a string would spread into letters) and job options that are not an object, before Redis', async () => {
  const added: unknown[] = [];
  const queue = { add: async (_name: string, data: unknown) => (added.push(data), { id: '1' }) } as unknown as Queue;
  await assert.rejects(addRun(queue, 'echo', 'hello' as never), (e: unknown) => e instanceof JobDataError && e.field === 'args');
  await assert.rejects(addRun(queue, 'echo', null as never), (e: unknown) => e instanceof JobDataError && e.field === 'args');
  await assert.rejects(addRun(queue, 'echo', [], { job: 'lifo' as never }), (e: unknown) => e instanceof InvalidOptionTypeError && e.option === 'job');
  assert.deepEqual(added, []);
  await addRun(queue, 'echo', ['hello']);
  assert.deepEqual(added, [{ command: 'echo', args: ['hello'] }]);
});

test("job data against a profile's caps: sizes in bytes, the timeout ceiling, the command allowlist", () => {
  const caps = { maxInputBytes: 4, maxArgs: 2, maxArgsBytes: 10, timeoutMs: 1000, commands: null };
  const ok = checkJobShape({ command: 'echo', args: ['ab'], input: 'abcd', timeoutMs: 1000 });
  checkJobCaps(ok, caps, 'p');
  assert.throws(() => checkJobCaps(checkJobShape({ command: 'cat', input: 'é é' }), caps, 'p'), refused('input', /is 5 bytes, more than the 4 allowed \(profile "p"\)/));
  assert.throws(() => checkJobCaps(checkJobShape({ command: 'e', args: ['1', '2', '3'] }), caps, 'p'), refused('args', /3 arguments, more than the 2/));
  assert.throws(() => checkJobCaps(checkJobShape({ command: 'echo', args: ['1234567'] }), caps, 'p'), refused('args', /take 11 bytes, more than the 10/));
  assert.throws(() => checkJobCaps(checkJobShape({ command: 'e', timeoutMs: 1001 }), caps, 'p'), refused('timeoutMs', /may not exceed the profile's timeoutMs \(1000\)/));
  const only = { ...caps, maxArgsBytes: 100, commands: ['/usr/bin/python3'] };
  checkJobCaps(checkJobShape({ command: '/usr/bin/python3' }), only, 'p');
  assert.throws(() => checkJobCaps(checkJobShape({ command: 'python3' }), only, 'p'), refused('command', /not one of the commands the profile allows/));
});

test('profiles: defaults, named profiles, the default profile, and an explicit sandbox on every one', () => {
  const bare = resolvePolicy(undefined);
  assert.deepEqual([...bare.profiles.keys()], ['default']);
  assert.equal(bare.defaultProfile, 'default');
  const p = bare.profiles.get('default')!;
  assert.deepEqual(p.runOptions.sandbox, {}, 'the default sandbox, named explicitly');
  assert.equal(p.runOptions.timeoutMs, PROFILE_DEFAULTS.timeoutMs);
  assert.equal(p.runOptions.maxOutputBytes, 1024 * 1024);
  const { maxOutputBytes: _output, ...capDefaults } = PROFILE_DEFAULTS;
  assert.deepEqual(p.caps, { ...capDefaults, commands: null });
  assert.ok(Object.isFrozen(p.runOptions) && Object.isFrozen(p.runOptions.sandbox));

  const policy: QueuePolicy = {
    profiles: {
      small: { timeoutMs: 1000, limits: { memoryBytes: 64 * 1024 * 1024 }, sandbox: { net: 'none', fs: { read: ['/etc/hostname'] } } },
      open: { sandbox: false },
    },
  };
  const resolved = resolvePolicy(policy);
  assert.equal(resolved.defaultProfile, null, 'two profiles and none called default: jobs must name one');
  assert.match(pickProfile(resolved, undefined) as string, /names no profile and this worker has no default profile \(profiles: small, open\)/);
  assert.match(pickProfile(resolved, 'big') as string, /"big", which this worker does not have/);
  assert.equal((pickProfile(resolved, 'small') as { name: string }).name, 'small');
  assert.equal(resolved.profiles.get('open')!.sandboxed, false);
  // The caller's object cannot change the worker's policy afterwards.
  (policy.profiles.small!.sandbox as { net: string }).net = 'host';
  assert.equal((resolved.profiles.get('small')!.runOptions.sandbox as { net: string }).net, 'none');
  assert.equal(resolvePolicy({ profiles: { a: {}, b: {} }, defaultProfile: 'b' }).defaultProfile, 'b');
  assert.equal(resolvePolicy({ profiles: { only: {} } }).defaultProfile, 'only');
});

test('profiles are checked by the same validators as run() options, errors naming the profile', () => {
  const bad: Array<[unknown, RegExp, typeof TypeError | typeof RangeError]> = [
    [{ profiles: { py: { sandbox: { fs: { read: ['/no/such/dir'] } } } } }, /^options\.profiles\.py\.sandbox\.fs\.read\[0\] does not exist/, RangeError],
    [{ profiles: { py: { sandbox: { net: 'everything' } } } }, /^options\.profiles\.py\.sandbox\.net must be one of/, TypeError],
    [{ profiles: { py: { limits: { cpuSeconds: 0 } } } }, /^options\.profiles\.py\.limits\.cpuSeconds must be between 1/, RangeError],
    [{ profiles: { py: { limits: { gpu: 1 } } } }, /^options\.profiles\.py\.limits\.gpu is not a known option/, TypeError],
    [{ profiles: { py: { env: { A: 1 } } } }, /^options\.profiles\.py\.env\.A must be a string/, TypeError],
    [{ profiles: { py: { killSignal: 'SIGNOPE' } } }, /^options\.profiles\.py\.killSignal/, TypeError],
    [{ profiles: { py: { timeoutMs: 0 } } }, /^options\.profiles\.py\.timeoutMs must be between 1/, RangeError],
    [{ profiles: { py: { maxOutputBytes: 2 ** 30 } } }, /^options\.profiles\.py\.maxOutputBytes must be between 0 and 67108864/, RangeError],
    [{ profiles: { py: { commands: [] } } }, /^options\.profiles\.py\.commands must list at least one/, RangeError],
    [{ profiles: { py: { input: 'x' } } }, /^options\.profiles\.py\.input is not a known option/, TypeError],
    [{ profiles: { 'bad name': {} } }, /^options\.profiles has a profile named "bad name"/, RangeError],
    [{ profiles: {} }, /^options\.profiles must name at least one profile/, RangeError],
    [{ profiles: { a: {} }, defaultProfile: 'b' }, /^options\.defaultProfile \("b"\) is not one of the profiles: a/, RangeError],
    [{ profiles: { a: {} }, extra: 1 }, /^options\.extra is not a known option/, TypeError],
    [{ sandbox: { seccomp: 'sometimes' } }, /^options\.sandbox\.seccomp must be/, TypeError],
    ['strict', /^options\.policy must be an object/, TypeError],
  ];
  for (const [policy, message, kind] of bad) {
    assert.throws(
      () => resolvePolicy(policy as QueuePolicy),
      (e: unknown) => e instanceof kind && (e instanceof InvalidOptionRangeError || e instanceof InvalidOptionTypeError) && message.test((e as Error).message),
      JSON.stringify(policy),
    );
  }
});

test('a policy file: JSON, checked like the API, with errors that name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-policy-'));
  try {
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify({ defaultProfile: 'a', profiles: { a: { timeoutMs: 10 }, b: { limits: { cpuSeconds: 2 } } } }));
    const { resolved } = loadPolicyFile(file);
    assert.equal(resolved.defaultProfile, 'a');
    assert.equal(resolved.profiles.get('a')!.runOptions.timeoutMs, 10);
    writeFileSync(file, '{"profiles": {"a": {"limits": {"cpuSeconds": -1}}}}');
    assert.throws(() => loadPolicyFile(file), (e: unknown) => e instanceof PolicyFileError && e.message === `${file}: profiles.a.limits.cpuSeconds must be between 1 and 31536000, got -1`);
    writeFileSync(file, '{"profiles": ');
    assert.throws(() => loadPolicyFile(file), (e: unknown) => e instanceof PolicyFileError && /is not valid JSON/.test(e.message));
    writeFileSync(file, '{"__proto__": {"sandbox": false}}');
    assert.throws(() => loadPolicyFile(file), (e: unknown) => e instanceof PolicyFileError && /__proto__ is not a known option/.test(e.message));
    assert.throws(() => loadPolicyFile(join(dir, 'missing.json')), (e: unknown) => e instanceof PolicyFileError && /cannot read it \(ENOENT\)/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('failures: permanent ones are UnrecoverableError, transient ones plain errors, each reason starting with its code', () => {
  const cases: Array<[unknown, string, boolean]> = [
    [new JobDataError('args', 'must be an array'), 'JOB_REFUSED', true],
    [new InvalidOptionTypeError('timeoutMs', 'bad'), 'INVALID_OPTION', true],
    [new HatcheryError('SANDBOX_UNAVAILABLE', 'no landlock'), 'SANDBOX_UNAVAILABLE', true],
    [new HatcheryError('EXEC_FAILED', 'x', { stage: 'exec', errnoName: 'ENOENT' }), 'EXEC_FAILED', true],
    [new HatcheryError('EXEC_FAILED', 'x', { stage: 'exec', errnoName: 'EACCES' }), 'EXEC_FAILED', true],
    [new HatcheryError('EXEC_FAILED', 'x', { stage: 'clone', errnoName: 'EAGAIN' }), 'EXEC_FAILED', false],
    [new HatcheryError('ABORTED', 'x'), 'CANCELLED', true],
    [new HatcheryError('ZYGOTE_DIED', 'x'), 'ZYGOTE_DIED', false],
    [new HatcheryError('QUEUE_FULL', 'x'), 'QUEUE_FULL', false],
    [new HatcheryError('QUEUE_TIMEOUT', 'x'), 'QUEUE_TIMEOUT', false],
    [new HatcheryError('CLOSED', 'x'), 'CLOSED', false],
    [new Error('boom'), 'INTERNAL', false],
  ];
  for (const [error, code, permanent] of cases) {
    const c = classifyError(error);
    assert.deepEqual([c.code, c.permanent], [code, permanent], String(error));
    const thrown = toJobError(c);
    assert.equal(thrown instanceof UnrecoverableError, permanent, `${code}: UnrecoverableError iff permanent`);
    assert.equal(failureCodeOf(thrown.message), code);
  }
  assert.equal(failureCodeOf('job stalled more than allowable limit'), 'STALLED');
  assert.equal(failureCodeOf('something else'), null);
  assert.equal(failureCodeOf(undefined), null);
});

test('hatchery worker flags: defaults, the URL from the environment, and usage errors', () => {
  const parsed = parseWorkerArgs(['--redis', 'redis://h:1', '--queue', 'q']);
  assert.ok(parsed !== 'help');
  assert.deepEqual(
    [parsed.lockMs, parsed.stalledIntervalMs, parsed.maxStalledCount, parsed.graceMs, parsed.json, parsed.check],
    [30_000, 30_000, 1, 30_000, false, false],
  );
  const fromEnv = parseWorkerArgs(['--queue', 'q', '--concurrency', '3', '--lock-ms', '1500', '--stalled-interval-ms', '500', '--json'], {
    HATCHERY_REDIS_URL: 'rediss://:secret@h:6380/2',
  });
  assert.ok(fromEnv !== 'help');
  assert.deepEqual([fromEnv.redisUrl, fromEnv.concurrency, fromEnv.lockMs, fromEnv.stalledIntervalMs, fromEnv.json], ['rediss://:secret@h:6380/2', 3, 1500, 500, true]);
  assert.equal(parseWorkerArgs(['--help']), 'help');
  for (const argv of [
    ['--queue', 'q'],
    ['--redis', 'redis://h:1'],
    ['--redis', 'http://h:1', '--queue', 'q'],
    ['--redis', 'redis://h:1', '--queue', 'q', '--concurrency', '0'],
    ['--redis', 'redis://h:1', '--queue', 'q', '--lock-ms', 'soon'],
    ['--redis', 'redis://h:1', '--queue', 'q', 'extra'],
  ]) {
    assert.throws(() => parseWorkerArgs(argv, {}), UsageError, argv.join(' '));
  }
  assert.equal(redactUrl('redis://user:hunter2@h:6379/0'), 'redis://user:***@h:6379/0');
  assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
  // Job ids and reasons come from producers: no line breaks or terminal escapes in a log line.
  assert.equal(printable('7\nhatchery worker: job 8 completed\u001b[2J'), '7\\u000ahatchery worker: job 8 completed\\u001b[2J');
  assert.equal(printable('x'.repeat(600)).length, 501);
  // Queue errors too: BullMQ builds some from the job id ("could not renew lock for job <id>").
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    new Log(false).error('could not renew lock for job 7\u001b]0;pwned\u0007\nhatchery worker: fake');
  } finally {
    process.stdout.write = write;
  }
  assert.equal(written.length, 1);
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  assert.doesNotMatch(written[0]!.slice(0, -1), /[\u0000-\u001f]/, `a control character reached the terminal: ${JSON.stringify(written[0])}`);
});

test('hatchery worker --check proves each profile on this machine; a bad profile file exits 125 naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-check-'));
  try {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ profiles: { default: { limits: { cpuSeconds: 2 } }, tools: { commands: ['/bin/echo'], timeoutMs: 1000 } } }));
    const ok = spawnSync(process.execPath, [bin, 'worker', '--check', '--profile', good], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^profile default \(default\): sandbox on, timeout 60000 ms, .*limits: cpuSeconds 2, any command$/m);
    assert.match(ok.stdout, /^profile tools: sandbox on, timeout 1000 ms, .*commands: \/bin\/echo$/m);
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ profiles: { default: { sandbox: { fs: { write: ['/no/such'] } } } } }));
    const bad = spawnSync(process.execPath, [bin, 'worker', '--check', '--profile', badFile], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(bad.status, 125);
    assert.equal(bad.stderr, `hatchery: INVALID_OPTION: ${badFile}: profiles.default.sandbox.fs.write[0] does not exist: /no/such\n`);
    const usage = spawnSync(process.execPath, [bin, 'worker', '--queue', 'q'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, HATCHERY_REDIS_URL: '' } });
    assert.equal(usage.status, 125);
    assert.match(usage.stderr, /^hatchery: USAGE: missing --redis URL/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every module the built main entry can load, following static and dynamic imports. */
function reachableModules(entry: string): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else bare.add(spec);
    }
  }
  return bare;
}

test("the main entry never loads bullmq; only 'hatchery/bullmq' (and the worker command, on demand) does", () => {
  const bare = reachableModules(join(root, 'dist', 'src', 'index.js'));
  assert.ok(!bare.has('bullmq') && !bare.has('ioredis'), `the main entry reaches ${[...bare].join(', ')}`);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string; default: string }>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional: boolean }>;
  };
  assert.deepEqual(pkg.exports['./bullmq'], { types: './dist/src/bullmq/index.d.ts', default: './dist/src/bullmq/index.js' });
  assert.equal(pkg.peerDependenciesMeta.bullmq?.optional, true);
  assert.ok(pkg.peerDependencies.bullmq);
});

test("'hatchery/bullmq' resolves through the package exports, with types a producer can use", () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-consumer-'));
  try {
    // A consumer project: node_modules/hatchery is this checkout; bullmq comes from its node_modules.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'hatchery'));
    symlinkSync(join(root, 'node_modules', 'bullmq'), join(dir, 'node_modules', 'bullmq'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('hatchery/bullmq'); console.log(typeof m.createQueueWorker, typeof m.addRun, typeof m.cancelRun)"], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.stdout, 'function function function\n', run.stderr);
    writeFileSync(
      join(dir, 'producer.ts'),
      `import { Queue } from 'bullmq';
import { addRun, createQueueWorker, type QueueRunResult, type RunJobData } from 'hatchery/bullmq';
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const queue = new Queue<RunJobData, QueueRunResult>('q', { connection: { host: '127.0.0.1', port: 1 } });
export async function produce(): Promise<void> {
  const job = await addRun(queue, 'echo', ['hi'], { timeoutMs: 100, profile: 'default', job: { priority: 1 } });
  const result: QueueRunResult = job.returnvalue;
  const exit: number | null = result.exitCode;
  const ms: number = result.timings.queuedMs;
  const same: Equal<typeof job.data, RunJobData> = true;
  void [exit, ms, same];
  // @ts-expect-error a producer cannot pass a sandbox
  await addRun(queue, 'echo', [], { sandbox: false });
  // @ts-expect-error nor limits
  await addRun(queue, 'echo', [], { limits: { cpuSeconds: 1 } });
  // @ts-expect-error args are strings
  await addRun(queue, 'echo', [1]);
}
export function consume(): void {
  createQueueWorker('q', { connection: {}, concurrency: 2, policy: { profiles: { default: { timeoutMs: 1 } } } });
  // @ts-expect-error a profile has no such option
  createQueueWorker('q', { connection: {}, policy: { memory: 1 } });
}
`,
    );
    // The TypeScript examples of docs/scale-out.md (skipped by the README test: they need Redis) compile too.
    const page = readFileSync(join(root, 'docs', 'scale-out.md'), 'utf8');
    const examples = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    assert.ok(examples.length >= 2, 'docs/scale-out.md has TypeScript examples');
    const files = ['producer.ts'];
    examples.forEach((code, i) => {
      writeFileSync(join(dir, `doc-example-${i}.ts`), `${code}\nexport {};\n`);
      files.push(`doc-example-${i}.ts`);
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
        files,
      }),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
