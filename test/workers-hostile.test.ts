// Every byte a warm worker writes is hostile: worker modules that forge raw
// frames on the channel (fd 0: u32 LE length + v8.serialize payload, see
// src/workers/protocol.ts), at import time or during a call. Each case must
// end in a typed rejection, with the parent alive (no uncaught exception or
// unhandled rejection), the pool still serving, and the forger's process gone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, constants, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { HatcheryError, WorkerError, WorkerInput, createWorkerPool, type WorkerPool, type WorkerPoolOptions } from '../src/index.js';
import { descendants, waitFor } from './helpers.js';

/** Every forging worker renames itself to this first, so the test can tell whether its process is gone. */
const TAG = `hatchery-forger-${randomBytes(4).toString('hex')}`;

const FORGER = `
import { serialize } from 'node:v8';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** fd 0 is the channel, non-blocking: write everything, waiting out EAGAIN. */
function writeAll(bytes) {
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(0, bytes, off, bytes.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      sleep(1);
    }
  }
}
function header(size) {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(size, 0);
  return h;
}
function frame(message) {
  const payload = serialize(message);
  return Buffer.concat([header(payload.length), payload]);
}
/** One token from a FIFO the test fills: true for exactly as many workers as it put tokens in. */
function token(name) {
  let fd;
  try {
    fd = openSync(new URL('./' + name, import.meta.url), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    return readSync(fd, Buffer.alloc(1)) === 1;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
function becomeForger() {
  process.title = process.env.FORGER_TAG;
}
/** Never settles: the bootstrap must not send a reply of its own. Its channel watcher keeps the process alive. */
const forever = () => new Promise(() => {});
/** Alive even with the channel closed. */
const stayAlive = () => {
  setInterval(() => {}, 1000);
  return forever();
};

if (token('arm-ready')) {
  becomeForger();
  writeAll(frame({ t: 'ready', exports: 5 }));
  await forever(); // the import never completes: no honest ready frame follows
}

export function add(a, b) {
  return a + b;
}

export function big(chars) {
  return 'x'.repeat(chars);
}

/** id: the call's id (a worker's first call is 1). */
export function forge(kind, id, extra) {
  becomeForger();
  switch (kind) {
    case 'err-without-error':
      writeAll(frame({ t: 'err', id }));
      return forever();
    case 'error-named':
      writeAll(frame({ t: 'err', id, error: { name: extra, message: 'forged', stack: undefined, code: extra } }));
      return forever();
    case 'error-with-proto-key':
      writeAll(frame({ t: 'err', id, error: JSON.parse('{"name":"Error","message":"forged","stack":"s","__proto__":{"polluted":true}}') }));
      return forever();
    case 'wrong-id':
      writeAll(frame({ t: 'ok', id: id + 41, value: 'not yours' }));
      return forever();
    case 'ready-while-busy':
      writeAll(frame({ t: 'ready', exports: ['add'] }));
      return forever();
    case 'truncated-then-close':
      writeAll(header(100));
      writeAll(Buffer.alloc(10));
      closeSync(0);
      return stayAlive();
    case 'half-frame':
      writeAll(header(100));
      writeAll(Buffer.alloc(10));
      return stayAlive();
    case 'oversized-prefix':
      writeAll(header(0xffffffff));
      return stayAlive();
    case 'second-empty-frame':
      // The bootstrap sent the call's one empty frame already: this is a second, out of turn.
      writeAll(header(0));
      return forever();
    case 'empty-frames-only':
      // Acknowledges again and again without ever replying: each one more than the call may have.
      for (let i = 0; i < 64; i++) writeAll(header(0));
      return forever();
    case 'garbage':
      writeAll(header(16));
      writeAll(Buffer.alloc(16, 0xff));
      return forever();
    case 'close-when-idle':
      // Answers, then (idle) closes its channel and stays alive: its fd number is free in the parent.
      writeAll(frame({ t: 'ok', id, value: 'answered' }));
      setTimeout(() => closeSync(0), 100);
      return stayAlive();
    case 'bytes-when-idle':
      // Answers, then (idle) starts a frame nobody asked for and feeds it a byte now and then.
      writeAll(frame({ t: 'ok', id, value: 'answered' }));
      setTimeout(() => {
        writeAll(header(4 * 1024 * 1024));
        writeAll(Buffer.alloc(64 * 1024));
        setInterval(() => writeAll(Buffer.alloc(1)), 500);
      }, 100);
      return forever();
    case 'typed-arrays':
      // Small views; v8.deserialize() would make them views into the frame or Node's shared pool.
      writeAll(frame({ t: 'ok', id, value: { bytes: new Uint8Array([7]), floats: new Float64Array([1.5]), buf: Buffer.from('xy') } }));
      return forever();
    case 'value-then-padding': {
      // A well-formed reply, then a megabyte the value does not account for, in the same frame.
      const payload = Buffer.concat([serialize({ t: 'ok', id, value: 'answered' }), Buffer.alloc(1 << 20)]);
      writeAll(header(payload.length));
      writeAll(payload);
      return forever();
    }
  }
  throw new Error('unknown forgery ' + kind);
}

/**
 * A well-formed 'ok' frame of about \`chars\` bytes, sent in two parts: the
 * first \`first\` bytes, then (dripping a byte now and then, so the frame
 * keeps making progress) the rest once the test hands out a 'gate' token.
 */
export function slowReply(id, chars, first) {
  becomeForger();
  const bytes = frame({ t: 'ok', id, value: 'y'.repeat(chars) });
  writeAll(bytes.subarray(0, first));
  let sent = first;
  while (!token('gate')) {
    if (sent < bytes.length - 1) writeAll(bytes.subarray(sent, ++sent));
    sleep(100);
  }
  writeAll(bytes.subarray(sent));
  return forever();
}
`;

// --- guards: the parent must survive every case -------------------------------

const uncaught: unknown[] = [];
const onUncaught = (e: unknown): void => {
  uncaught.push(e);
};
before(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterEach(() => {
  assert.deepEqual(uncaught.splice(0), [], 'no uncaught exception or unhandled rejection in the parent');
});
after(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

// --- fixtures -----------------------------------------------------------------

const dirs: string[] = [];
const heldFds: number[] = [];
after(() => {
  for (const fd of heldFds.splice(0)) closeSync(fd);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The forger module in a fresh directory the workers' uid can read. */
function moduleDir(): { dir: string; module: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-hostile-'));
  chmodSync(dir, 0o755); // mkdtemp makes it 0700; a root caller's workers run as another uid
  dirs.push(dir);
  const module = join(dir, 'forger.mjs');
  writeFileSync(module, FORGER);
  chmodSync(module, 0o644);
  return { dir, module };
}

/** A FIFO in `dir` holding `count` one-byte tokens; this process keeps it open (O_RDWR) so the tokens stay. */
function tokens(dir: string, name: string, count: number): number {
  const path = join(dir, name);
  const r = spawnSync('mkfifo', ['-m', '0666', path]);
  assert.equal(r.status, 0, String(r.stderr));
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  heldFds.push(fd);
  if (count > 0) writeSync(fd, Buffer.alloc(count, 1));
  return fd;
}

function forgersAlive(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(TAG)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

async function withPool(options: Partial<WorkerPoolOptions>, body: (p: WorkerPool, dir: string) => Promise<void>): Promise<void> {
  const { dir, module } = moduleDir();
  const p = createWorkerPool({ module, warm: 1, maxWorkers: 2, output: 'ignore', env: { FORGER_TAG: TAG }, ...options });
  try {
    await body(p, dir);
    // The pool keeps working: a fresh worker serves the next call.
    assert.equal(await p.call('add', 1, 2), 3);
    // The forger's whole tree was killed.
    await waitFor(() => forgersAlive().length === 0, 10_000, `forger processes to be gone (${forgersAlive().join(', ')})`);
  } finally {
    await p.close();
  }
  assert.deepEqual(descendants(), [], 'no worker or zygote process is left after close()');
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to reject');
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<HatcheryError> {
  const e = await rejection(p);
  assert.ok(e instanceof HatcheryError, `expected a HatcheryError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (message) assert.match(e.message, message);
  return e;
}

// --- cases --------------------------------------------------------------------

test('a ready frame whose exports is 5, written at import time: WORKER_PROTOCOL', async () => {
  await withPool({ warm: 0 }, async (p, dir) => {
    tokens(dir, 'arm-ready', 1); // the first worker to import the module forges; later ones behave
    const e = await rejectsWith(p.call('add', 1, 1), 'WORKER_PROTOCOL', /exports is a number, not an array/);
    assert.ok(e instanceof WorkerError);
    assert.match(e.message, /while booting/);
  });
});

test("an err frame without an error: WORKER_PROTOCOL", async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'err-without-error', 1), 'WORKER_PROTOCOL', /lacks "error"/);
    assert.equal(p.stats().totals.protocolErrors, 1);
  });
});

for (const name of ['__defineGetter__', '__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
  test(`an error named ${name} is rebuilt as a plain Error carrying that name as a string`, async () => {
    await withPool({}, async (p) => {
      const e = await rejection(p.call('forge', 'error-named', 1, name));
      assert.ok(e instanceof Error, String(e));
      assert.equal(Object.getPrototypeOf(e), Error.prototype);
      assert.equal(e.name, name);
      assert.equal(e.message, 'forged');
      assert.equal((e as Error & { code?: unknown }).code, name);
      assert.deepEqual(Object.getOwnPropertyNames(e).sort(), ['code', 'message', 'name', 'stack']);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(typeof (Object.prototype as Record<string, unknown>).__defineGetter__, 'function', 'Object.prototype untouched');
    });
  });
}

test('an error object carrying a __proto__ key: WORKER_PROTOCOL, nothing polluted', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'error-with-proto-key', 1), 'WORKER_PROTOCOL', /unexpected key "__proto__"/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

test('a reply for another call id, and a ready frame during a call: WORKER_PROTOCOL', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'wrong-id', 1), 'WORKER_PROTOCOL', /not for the call in flight/);
    await rejectsWith(p.call('forge', 'ready-while-busy', 1), 'WORKER_PROTOCOL', /ready frame from a worker that is running a call/);
  });
});

test('a second empty frame for one call (the bootstrap sends the one it may have), or a stream of them: WORKER_PROTOCOL', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'second-empty-frame', 1), 'WORKER_PROTOCOL', /empty frame out of turn/);
    await rejectsWith(p.call('forge', 'empty-frames-only', 1), 'WORKER_PROTOCOL', /empty frame out of turn/);
    assert.equal(await p.call('add', 2, 2), 4, 'the pool still serves');
  });
});

test('a truncated frame, then the channel closed while the process stays alive: WORKER_CRASHED without timeoutMs', async () => {
  await withPool({}, async (p) => {
    const e = await rejectsWith(p.call('forge', 'truncated-then-close', 1), 'WORKER_CRASHED', /closed its channel in the middle of a frame without exiting/);
    assert.equal((e as WorkerError).exit?.signal, 'SIGKILL');
  });
});

test('a worker that closes its channel while idle leaves the rotation at once: the next call, input fd and all, goes to another worker', async () => {
  await withPool({ reuse: 10, maxWorkers: 1 }, async (p, dir) => {
    assert.equal(await p.call('forge', 'close-when-idle', 1), 'answered');
    await new Promise((r) => setTimeout(r, 400)); // closed by now, and still alive
    const input = join(dir, 'input.txt');
    writeFileSync(input, 'for the caller only');
    chmodSync(input, 0o644);
    const started = Date.now();
    assert.equal(await p.call('add', 1, 2, WorkerInput.file(input)), 3);
    assert.ok(Date.now() - started < 1500, `the call waited ${Date.now() - started} ms (it went to the closed worker first)`);
  });
});

test('bytes from an idle worker are out of turn: WORKER_PROTOCOL at once, nothing held in the reply budget', async () => {
  await withPool({ reuse: 10 }, async (p) => {
    assert.equal(await p.call('forge', 'bytes-when-idle', 1), 'answered');
    await waitFor(() => p.stats().totals.protocolErrors >= 1, 5000, 'the idle bytes to count as a protocol error');
    assert.equal((p as unknown as { bufferedReplyBytes: number }).bufferedReplyBytes, 0, 'bytes nobody asked for sit in the reply budget');
  });
});

test('a Buffer or typed array result owns exactly its bytes: no view into the frame or a shared pool', async () => {
  await withPool({}, async (p) => {
    const v = (await p.call('forge', 'typed-arrays', 1)) as { bytes: Uint8Array; floats: Float64Array; buf: Buffer };
    assert.deepEqual([...v.bytes], [7]);
    assert.equal(v.bytes.buffer.byteLength, 1, 'the 1-byte result keeps the whole frame alive');
    assert.equal(v.floats.buffer.byteLength, 8);
    assert.equal(v.floats[0], 1.5);
    assert.ok(Buffer.isBuffer(v.buf));
    assert.equal(v.buf.toString(), 'xy');
    assert.equal(v.buf.buffer.byteLength, 2, "the Buffer is a view into Node's shared pool");
  });
});

test('a half frame that stalls: WORKER_CRASHED without timeoutMs', async () => {
  await withPool({}, async (p) => {
    const started = Date.now();
    await rejectsWith(p.call('forge', 'half-frame', 1), 'WORKER_CRASHED', /sent 14 bytes of a 100-byte frame and then nothing for \d+ ms/);
    assert.ok(Date.now() - started >= 4000, 'not before the stall limit');
  });
});

test('an oversized length prefix: WORKER_PROTOCOL at once, nothing buffered', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'oversized-prefix', 1), 'WORKER_PROTOCOL', /announced 4294967295 bytes/);
  });
});

test('a frame with bytes after its value: WORKER_PROTOCOL, the value is not taken', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'value-then-padding', 1), 'WORKER_PROTOCOL', /value ends before the frame does/);
  });
});

test('garbage bytes that do not deserialize: WORKER_PROTOCOL', async () => {
  await withPool({}, async (p) => {
    await rejectsWith(p.call('forge', 'garbage', 1), 'WORKER_PROTOCOL', /does not deserialize/);
  });
});

test('a reply over maxReplyBytes: REPLY_TOO_LARGE, smaller ones pass', async () => {
  await withPool({ maxReplyBytes: 1 << 20 }, async (p) => {
    assert.equal(((await p.call('big', 1000)) as string).length, 1000);
    await rejectsWith(p.call('big', 2 << 20), 'REPLY_TOO_LARGE', /more than maxReplyBytes \(1048576\)/);
  });
});

test('several workers together over the pool budget: the one that crosses it gets REPLY_TOO_LARGE, the others finish', { timeout: 60_000 }, async () => {
  const MiB = 1 << 20;
  // Three replies of 3.5 MiB, each held at 3 MiB until released: 9 MiB would be buffered at once, the budget is 8.
  await withPool({ warm: 3, maxWorkers: 3, maxReplyBytes: 4 * MiB, replyBudgetBytes: 8 * MiB }, async (p, dir) => {
    const gate = tokens(dir, 'gate', 0);
    await p.ready();
    const calls = [0, 1, 2].map((i) =>
      p.call('slowReply', 1, 3.5 * MiB, 3 * MiB).then(
        (value) => ({ i, value }),
        (error: unknown) => ({ i, error }),
      ),
    );
    const first = await Promise.race(calls);
    assert.ok('error' in first, 'the first call to settle is the rejected one');
    assert.ok(first.error instanceof HatcheryError && first.error.code === 'REPLY_TOO_LARGE', String(first.error));
    assert.match(first.error.message, /more than replyBudgetBytes \(8388608\)/);
    // The call rejects before its worker is dead, and that worker still polls the gate: a token written now
    // could be taken by it, and one of the other two would wait forever. Release them once it is gone
    // (all three renamed themselves on entering slowReply; no other worker runs it).
    await waitFor(() => forgersAlive().length === 2, 10_000, 'the rejected worker to be gone (two forgers left)');
    writeSync(gate, Buffer.alloc(2, 1)); // release the other two
    const rest = (await Promise.all(calls)).filter((r) => r.i !== first.i);
    for (const r of rest) {
      assert.ok('value' in r, `call ${r.i}: ${'error' in r ? String(r.error) : ''}`);
      assert.equal((r.value as string).length, 3.5 * MiB);
    }
  });
});

test('reply options are validated', () => {
  const { module } = moduleDir();
  assert.throws(() => createWorkerPool({ module, maxReplyBytes: 0 }), { code: 'INVALID_OPTION' });
  assert.throws(() => createWorkerPool({ module, maxReplyBytes: 2 ** 29 }), { code: 'INVALID_OPTION' });
  assert.throws(() => createWorkerPool({ module, replyBudgetBytes: 1024, maxReplyBytes: 2048 }), { code: 'INVALID_OPTION', option: 'maxReplyBytes' });
});
