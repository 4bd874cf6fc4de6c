// `node` under limits.memoryBytes just works: hatchery sizes V8 to the
// address-space limit (and drops the JIT below 1 GiB, where its 512 MiB code
// range cannot fit), instead of V8 dying at start with a CodeRange error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { InvalidOptionRangeError, closeDefaultZygote, run, spawn } from '../src/index.js';
import { MIN_NODE_MEMORY_BYTES, nodeMemoryLaunch } from '../src/spawn/node-memory.js';

after(() => closeDefaultZygote());

const MiB = 1024 * 1024;
const node = process.execPath;
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'hatchery.js');

test('the flags: heap from the limit, no JIT below 1 GiB, one malloc arena; nothing for other programs or without a limit', () => {
  assert.deepEqual(nodeMemoryLaunch('node', ['-e', '1'], [], 256 * MiB), {
    args: ['--max-old-space-size=48', '--jitless', '--no-expose-wasm', '-e', '1'],
    env: ['MALLOC_ARENA_MAX=1'],
  });
  assert.deepEqual(nodeMemoryLaunch('/usr/local/bin/node', ['app.js'], [], 2048 * MiB), {
    args: ['--max-old-space-size=672', 'app.js'],
    env: ['MALLOC_ARENA_MAX=1'],
  });
  assert.deepEqual(nodeMemoryLaunch('nodejs', [], [], 1024 * MiB)?.args, ['--max-old-space-size=160']);
  assert.equal(nodeMemoryLaunch('node', ['-e', '1'], [], undefined), null);
  assert.equal(nodeMemoryLaunch('python3', ['-c', '1'], [], 256 * MiB), null);
  assert.equal(nodeMemoryLaunch('/opt/node-tools/bin/npm', [], [], 256 * MiB), null);
});

test("the caller's own choices win: heap flags, --jitless/--no-jitless, NODE_OPTIONS, MALLOC_ARENA_MAX", () => {
  assert.deepEqual(nodeMemoryLaunch('node', ['--max-old-space-size=100', 'a.js'], [], 512 * MiB)?.args, ['--jitless', '--no-expose-wasm', '--max-old-space-size=100', 'a.js']);
  assert.deepEqual(nodeMemoryLaunch('node', ['--max_heap_size=90', 'a.js'], [], 512 * MiB)?.args, ['--jitless', '--no-expose-wasm', '--max_heap_size=90', 'a.js']);
  assert.deepEqual(nodeMemoryLaunch('node', ['a.js'], ['NODE_OPTIONS=--enable-source-maps --max-old-space-size=64'], 512 * MiB)?.args, ['--jitless', '--no-expose-wasm', 'a.js']);
  assert.deepEqual(nodeMemoryLaunch('node', ['--no-jitless', 'a.js'], [], 900 * MiB)?.args, ['--max-old-space-size=98', '--no-jitless', 'a.js']);
  assert.deepEqual(nodeMemoryLaunch('node', ['--jitless', 'a.js'], [], 2048 * MiB)?.args, ['--max-old-space-size=944', '--jitless', 'a.js']);
  assert.deepEqual(nodeMemoryLaunch('node', ['a.js'], ['MALLOC_ARENA_MAX=4'], 2048 * MiB)?.env, []);
});

test(`below ${MIN_NODE_MEMORY_BYTES / MiB} MiB node is refused as INVALID_OPTION on limits.memoryBytes (it would abort or hang)`, async () => {
  await assert.rejects(run(node, ['-e', '1'], { limits: { memoryBytes: 128 * MiB } }), (e: unknown) => {
    assert.ok(e instanceof InvalidOptionRangeError, String(e));
    assert.equal(e.option, 'limits.memoryBytes');
    assert.match(e.message, /too small for node/);
    assert.match(e.message, /RLIMIT_AS/);
    return true;
  });
  await assert.rejects(spawn(node, ['-e', '1'], { limits: { memoryBytes: 128 * MiB } }), { code: 'INVALID_OPTION' });
});

const skipNotNode = basename(node) === 'node' || basename(node) === 'nodejs' ? false : `this Node is ${basename(node)}, not node`;

test('run(node) under 256 MiB runs real work: modules, Buffers, zlib, crypto', { skip: skipNotNode }, async () => {
  const script = `
    const zlib = require('node:zlib');
    const crypto = require('node:crypto');
    const big = Buffer.alloc(16 << 20, 7);
    const packed = zlib.gzipSync(big);
    const words = Array.from({ length: 200000 }, (_, i) => 'w' + i).join(' ');
    console.log(zlib.gunzipSync(packed).length, crypto.createHash('sha256').update(words).digest('hex').length, typeof WebAssembly);
  `;
  const r = await run(node, ['-e', script], { limits: { memoryBytes: 256 * MiB }, timeoutMs: 60_000 });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, `${16 << 20} 64 undefined\n`);
  assert.equal(r.stderr, '', 'no warnings either');
  assert.equal(r.limit, null);
  assert.deepEqual(r.command, [node, '-e', script], 'result.command is the command as given');
});

test('run(node) with 2 GiB keeps the JIT and WebAssembly, with a heap that fits', { skip: skipNotNode }, async () => {
  const r = await run(node, ['-e', 'console.log(typeof WebAssembly, require("v8").getHeapStatistics().heap_size_limit >> 20)'], {
    limits: { memoryBytes: 2048 * MiB },
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const [wasm, limitMiB] = r.stdout.trim().split(' ');
  assert.equal(wasm, 'object');
  assert.ok(Number(limitMiB) >= 600 && Number(limitMiB) < 1024, `heap limit ${limitMiB} MiB`);
});

test('running out of heap under the limit is V8\'s ordinary heap OOM, reported as the memory limit', { skip: skipNotNode }, async () => {
  const r = await run(node, ['-e', 'const a = []; for (;;) a.push(new Array(1e5).fill(a.length));'], {
    limits: { memoryBytes: 256 * MiB },
    timeoutMs: 60_000,
  });
  assert.equal(r.signal, 'SIGABRT', r.stderr.slice(0, 500));
  assert.match(r.stderr, /JavaScript heap out of memory/);
  assert.doesNotMatch(r.stderr, /CodeRange|semi space/);
  assert.equal(r.limit, 'memory');
});

test('the CLI: hatchery run --memory 256M -- node -e ... prints', { skip: skipNotNode }, () => {
  const r = spawnSync(process.execPath, [bin, 'run', '--memory', '256M', '--', node, '-e', 'console.log(6 * 7)'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, '42\n');
  assert.equal(r.status, 0);
});
