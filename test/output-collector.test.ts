/** run()'s pipe reader (src/spawn/output-collector.ts): bounded, drains to end of file, closes what it reads. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { test } from 'node:test';
import { loadBinding } from '../src/native/binding.js';
import { OutputCollector } from '../src/spawn/output-collector.js';
import { assertFdsBack, openFds } from './helpers.js';

const native = loadBinding();

/** A writer process with stdout on a fresh pipe's write end; resolves with its exit code. */
function writer(command: string, writeEnd: number): Promise<number | null> {
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', writeEnd, 'inherit'] });
  native.close(writeEnd);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

test('collects every byte up to end of file, then closes the read end', async () => {
  // child_process keeps a few fds of its own from its first spawn on: count after one.
  await new Promise((r) => spawn('/bin/true', { stdio: 'ignore' }).on('exit', r));
  const before = openFds();
  const [readEnd, writeEnd] = native.pipe();
  let overflows = 0;
  const c = new OutputCollector(readEnd, 1 << 20, () => overflows++);
  const exited = writer('printf hello; sleep 0.05; head -c 200000 /dev/zero', writeEnd);
  await c.done;
  assert.equal(await exited, 0);
  assert.equal(c.bytes, 5 + 200000);
  assert.equal(Buffer.concat(c.chunks).subarray(0, 5).toString(), 'hello');
  assert.equal(c.truncated, false);
  assert.equal(overflows, 0);
  assertFdsBack(before, 'no fd is left open');
});

test('past the cap: keeps exactly cap bytes, tells once, and keeps draining so the writer is never blocked', async () => {
  const [readEnd, writeEnd] = native.pipe();
  let overflows = 0;
  const c = new OutputCollector(readEnd, 1000, () => overflows++);
  const exited = writer('head -c 1000000 /dev/zero', writeEnd);
  await c.done;
  assert.equal(await exited, 0, 'the writer finished its megabyte: the pipe was drained');
  assert.equal(c.bytes, 1000);
  assert.equal(Buffer.concat(c.chunks).length, 1000);
  assert.equal(c.truncated, true);
  assert.equal(overflows, 1);
});

test('a cap of 0 keeps nothing and reports the first byte as overflow', async () => {
  const [readEnd, writeEnd] = native.pipe();
  let overflows = 0;
  const c = new OutputCollector(readEnd, 0, () => overflows++);
  writeSync(writeEnd, 'x');
  native.close(writeEnd);
  await c.done;
  assert.equal(c.bytes, 0);
  assert.equal(c.truncated, true);
  assert.equal(overflows, 1);
});

test('an empty pipe closed at once ends with nothing collected', async () => {
  const [readEnd, writeEnd] = native.pipe();
  const c = new OutputCollector(readEnd, 10, () => assert.fail('no overflow'));
  native.close(writeEnd);
  await c.done;
  assert.equal(c.bytes, 0);
  assert.equal(c.truncated, false);
});

test('destroy() ends collection while a writer still holds the pipe, closes the fd, and is idempotent', async () => {
  const before = openFds();
  const [readEnd, writeEnd] = native.pipe();
  const c = new OutputCollector(readEnd, 10, () => {});
  writeSync(writeEnd, 'abc');
  await new Promise((r) => setTimeout(r, 20));
  c.destroy();
  c.destroy();
  await c.done;
  assert.equal(Buffer.concat(c.chunks).toString(), 'abc');
  native.close(writeEnd);
  assertFdsBack(before);
});

test('a writer that never lets the pipe run dry does not hold the event loop: at most 16 reads a turn', async () => {
  // A real pipe that stays readable (one byte never taken), and a read(2) that always has 64 KiB more, 100 times.
  const [readEnd, writeEnd] = native.pipe();
  writeSync(writeEnd, 'x');
  const realRead = native.readInto;
  let turn = 0;
  const readsInTurn = new Map<number, number>();
  let reads = 0;
  native.readInto = (_fd: number, buf: Uint8Array, offset: number): number => {
    readsInTurn.set(turn, (readsInTurn.get(turn) ?? 0) + 1);
    return ++reads <= 100 ? buf.length - offset : 0;
  };
  let spinning = true;
  const spin = (): void => {
    turn++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  try {
    const c = new OutputCollector(readEnd, 1 << 30, () => {});
    await c.done;
    assert.equal(c.bytes, 100 * 64 * 1024);
  } finally {
    spinning = false;
    native.readInto = realRead;
    native.close(writeEnd);
  }
  assert.equal(reads, 101, 'read to the end of file');
  assert.ok(Math.max(...readsInTurn.values()) <= 16, `reads in one turn: ${[...readsInTurn.values()].join(', ')}`);
  assert.ok(readsInTurn.size >= 7, `the loop turned between batches (${readsInTurn.size} turns with reads)`);
});

test('a byte at a time: the kept bytes sit in a few blocks, not one Buffer per read (memory follows the cap)', async () => {
  const [readEnd, writeEnd] = native.pipe();
  const c = new OutputCollector(readEnd, 1 << 20, () => {});
  const expected: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const byte = i % 251;
    expected.push(byte);
    writeSync(writeEnd, Buffer.from([byte]));
    // Let the collector read this one byte on its own, as it would from a program that writes slowly.
    await new Promise((r) => setImmediate(r));
  }
  native.close(writeEnd);
  await c.done;
  assert.equal(c.bytes, 3000);
  assert.deepEqual([...Buffer.concat(c.chunks, c.bytes)], expected);
  assert.ok(c.chunks.length <= 8, `3000 one-byte reads kept in ${c.chunks.length} chunks`);
});
