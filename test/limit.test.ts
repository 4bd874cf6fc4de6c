// result.limit names a limit only when that limit ended the process. For
// memory (RLIMIT_AS, which never kills by itself) that takes evidence: the
// program saying an allocation failed, or a crash with the address space
// all but used up. A plain crash under memoryBytes is not the memory limit.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import { whichLimit } from '../src/spawn/run.js';
import type { ExitStatus } from '../src/spawn/process-handle.js';

after(() => closeDefaultZygote());

const MiB = 1024 * 1024;

function status(over: Partial<ExitStatus>): ExitStatus {
  return {
    exitCode: null,
    signal: null,
    timedOut: false,
    killRequested: false,
    escalated: false,
    tmpdirFull: false,
    wallMs: 10,
    userCpuMs: 1,
    sysCpuMs: 1,
    maxRssBytes: 2 * MiB,
    ...over,
  };
}

describe('whichLimit: memory only on evidence', () => {
  const limits = { memoryBytes: 256 * MiB };
  const text = (s: string): Buffer => Buffer.from(s);

  test('a crash far below the limit, silent, is no limit', () => {
    for (const signal of ['SIGSEGV', 'SIGBUS', 'SIGABRT'] as const) {
      assert.equal(whichLimit(status({ signal }), limits, false, text('')), null, signal);
    }
  });

  test('a crash with peak RSS at 90% of the limit or more is the memory limit', () => {
    assert.equal(whichLimit(status({ signal: 'SIGSEGV', maxRssBytes: 240 * MiB }), limits, false, text('')), 'memory');
    assert.equal(whichLimit(status({ signal: 'SIGSEGV', maxRssBytes: 200 * MiB }), limits, false, text('')), null);
    assert.equal(whichLimit(status({ signal: 'SIGTERM', maxRssBytes: 250 * MiB }), limits, false, text('')), null, 'not a crash signal');
    assert.equal(whichLimit(status({ exitCode: 1, maxRssBytes: 250 * MiB }), limits, false, text('')), null, 'an exit is not a crash');
  });

  test('a failure whose stderr ends with an allocation failure is the memory limit', () => {
    for (const line of [
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
      '# Fatal process OOM in Failed to reserve virtual memory for CodeRange',
      'bash: xrealloc: cannot allocate 62562304 bytes',
      'awk: fatal: cannot reallocate 54525927 bytes of memory: Cannot allocate memory',
      'dd: memory exhausted by input buffer of size 104857600 bytes (100 MiB)',
      "terminate called after throwing an instance of 'std::bad_alloc'",
      'MemoryError',
      'memory allocation of 1073741824 bytes failed',
      'fatal error: runtime: out of memory',
      'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
    ]) {
      assert.equal(whichLimit(status({ exitCode: 1 }), limits, false, text(`${line}\n`)), 'memory', line);
      assert.equal(whichLimit(status({ signal: 'SIGABRT' }), limits, false, text(`${line}\n`)), 'memory', line);
    }
  });

  test('no claim without a memory limit, after a success, without stderr, or when hatchery killed it', () => {
    const oom = text('out of memory\n');
    assert.equal(whichLimit(status({ exitCode: 1 }), {}, false, oom), null);
    assert.equal(whichLimit(status({ exitCode: 0 }), limits, false, oom), null);
    assert.equal(whichLimit(status({ exitCode: 1 }), limits, false, null), null);
    assert.equal(whichLimit(status({ signal: 'SIGKILL', killRequested: true, maxRssBytes: 255 * MiB }), limits, false, oom), null);
    assert.equal(whichLimit(status({ exitCode: 1 }), limits, false, text('some other error\n')), null);
  });

  test('the other limits keep their own signals; a SIGKILL hatchery sent is not the cpu limit', () => {
    assert.equal(whichLimit(status({ signal: 'SIGXCPU' }), { cpuSeconds: 1 }, false, null), 'cpu');
    assert.equal(whichLimit(status({ signal: 'SIGKILL', userCpuMs: 1500 }), { cpuSeconds: 1 }, false, null), 'cpu');
    assert.equal(whichLimit(status({ signal: 'SIGKILL', userCpuMs: 1500, killRequested: true }), { cpuSeconds: 1 }, false, null), null);
    assert.equal(whichLimit(status({ signal: 'SIGXFSZ' }), { fileSizeBytes: 1 }, false, null), 'fileSize');
    assert.equal(whichLimit(status({ timedOut: true, signal: 'SIGSEGV', maxRssBytes: 255 * MiB }), limits, false, null), 'timeout');
    assert.equal(whichLimit(status({ signal: 'SIGKILL' }), limits, true, null), 'output');
  });
});

describe('end to end', () => {
  test('with memoryBytes set, a plain SIGSEGV or SIGABRT is not reported as the memory limit', async () => {
    for (const sig of ['SEGV', 'ABRT', 'BUS']) {
      const r = await run('/bin/sh', ['-c', `kill -${sig} $$`], { limits: { memoryBytes: 512 * MiB } });
      assert.equal(r.signal, `SIG${sig}`);
      assert.equal(r.limit, null, `SIG${sig}`);
    }
  });

  test('a program that runs out of address space and says so is reported as the memory limit', async () => {
    const grow = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}';
    const bash = await run('/bin/bash', ['-c', grow], { limits: { memoryBytes: 64 * MiB } });
    assert.notEqual(bash.exitCode, 0);
    assert.match(bash.stderr, /cannot allocate/);
    assert.equal(bash.limit, 'memory');
    const dd = await run('/bin/dd', ['if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1'], { limits: { memoryBytes: 64 * MiB } });
    assert.equal(dd.exitCode, 1);
    assert.equal(dd.limit, 'memory');
    // The same programs with room to spare: no limit.
    const roomy = await run('/bin/dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=1'], { limits: { memoryBytes: 64 * MiB } });
    assert.equal(roomy.exitCode, 0);
    assert.equal(roomy.limit, null);
  });

  test('saying "out of memory" and exiting 0 is no limit', async () => {
    const r = await run('/bin/sh', ['-c', 'echo out of memory >&2'], { limits: { memoryBytes: 64 * MiB } });
    assert.equal(r.limit, null);
  });
});
