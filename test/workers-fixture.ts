// The module the warm-worker tests load inside the sandbox. Node builtins only.
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';

/** Differs per process: tells whether two calls ran in the same worker. */
const token = randomUUID();

export function add(a: number, b: number): number {
  return a + b;
}

export function identity(value: unknown): unknown {
  return value;
}

export async function later(value: unknown, ms: number): Promise<unknown> {
  await new Promise((r) => setTimeout(r, ms));
  return { value, token };
}

export function processToken(): string {
  return token;
}

export function fail(message: string): never {
  const e = new RangeError(message) as RangeError & { code: string };
  e.code = 'E_FIXTURE';
  throw e;
}

export async function failAsync(message: string): Promise<never> {
  await new Promise((r) => setImmediate(r));
  throw new TypeError(message);
}

export function exitWith(code: number): void {
  process.exit(code);
}

export function abort(): void {
  process.abort();
}

export function hang(): void {
  // A grandchild too: the whole tree must die on timeout.
  spawn('/bin/sleep', ['1000'], { stdio: 'ignore' });
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    // spin
  }
}

export function tryRead(path: string): string {
  try {
    readFileSync(path);
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  }
}

export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

export async function readInput(input: Readable & { fd?: number }, path: string): Promise<{ text: string; byPath: string; isFd: boolean }> {
  const isFd = typeof input.fd === 'number';
  let text = '';
  for await (const chunk of input) text += String(chunk);
  return { text, byPath: tryRead(path), isFd };
}

export function unclonable(): unknown {
  return () => 1;
}

/** `count` blocks of 64 KiB to stdout, block i filled with i (a little-endian uint32), each at the pipe's pace. */
export async function writeBlocks(count: number): Promise<number> {
  for (let i = 0; i < count; i++) {
    const number = Buffer.alloc(4);
    number.writeUInt32LE(i);
    if (!process.stdout.write(Buffer.alloc(64 * 1024, number))) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
  return count;
}
