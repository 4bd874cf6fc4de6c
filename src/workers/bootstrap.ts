/**
 * Runs inside the sandbox as `node bootstrap.js <addon> <module-url>`. The
 * zygote child applied Landlock, seccomp and the namespaces before exec, so
 * every thread Node starts is already confined. fd 0 is the channel socket
 * (see protocol.ts); fds 1 and 2 are the worker's own stdout/stderr.
 *
 * The channel is read with recvmsg through the addon (Node's streams would
 * drop SCM_RIGHTS). Replies are written with sendmsg; a partial write waits
 * for the socket to drain.
 */
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { deserialize } from 'node:v8';
import type { FdWatcher, NativeBinding } from '../native/binding.js';
import {
  FD_FRAME,
  FrameReader,
  encodeFrame,
  serializeError,
  serializeValue,
  type CallMessage,
  type WorkerMessage,
} from './protocol.js';

const CHANNEL = 0;
// Mirrors EAGAIN and WatchEvent of ../native/binding.ts: the sandboxed worker may read only
// dist/src/workers and the addon, so it imports types from there, never values.
const EAGAIN = 11;
const READABLE = 1;
const WRITABLE = 2;

const [addonPath, moduleUrl] = process.argv.slice(2);
const native = createRequire(import.meta.url)(addonPath!) as NativeBinding;

const reader = new FrameReader();
const fdQueue: number[] = [];
const outbox: Buffer[] = [];
// Written once at boot, so that the first call's recvmsg does not take the page faults (costly under
// nested virtualisation) for the pages its frame lands in.
const receiveBuffer = Buffer.allocUnsafe(256 * 1024).fill(0);
let watcher: FdWatcher;
let watchingWritable = false;
let exports: Record<string, unknown> = {};
let busy = Promise.resolve();

function send(message: WorkerMessage): void {
  let frame: Buffer;
  try {
    frame = encodeFrame(message);
  } catch (e) {
    if (message.t !== 'ok') throw e;
    frame = encodeFrame({ t: 'err', id: message.id, error: serializeError(e as Error) } satisfies WorkerMessage);
  }
  outbox.push(frame);
  flush();
}

function flush(): void {
  while (outbox.length > 0) {
    const head = outbox[0]!;
    const sent = native.sendMessage(CHANNEL, head, []);
    if (sent === -EAGAIN) break;
    if (sent < 0) process.exit(70); // the parent is gone
    if (sent < head.length) outbox[0] = head.subarray(sent);
    else outbox.shift();
  }
  const wantWritable = outbox.length > 0;
  if (wantWritable !== watchingWritable) {
    watchingWritable = wantWritable;
    watcher.start(wantWritable ? READABLE | WRITABLE : READABLE);
  }
}

function lookup(name: string): ((...args: unknown[]) => unknown) | undefined {
  const direct = exports[name];
  if (typeof direct === 'function') return direct as (...args: unknown[]) => unknown;
  const fallback = exports.default as Record<string, unknown> | undefined;
  if (fallback && typeof fallback === 'object' && typeof fallback[name] === 'function') {
    return fallback[name] as (...args: unknown[]) => unknown;
  }
  return undefined;
}

async function runCall(call: CallMessage, fds: number[]): Promise<void> {
  const rehearsal = call.id === REHEARSAL_ID;
  const reply = rehearsal ? rehearsalReply : send;
  const fn = rehearsal ? rehearsalTarget : lookup(call.name);
  try {
    const args = deserialize(call.args) as unknown[];
    call.inputs.forEach((index, i) => {
      args[index] = createReadStream('', { fd: fds[i]!, autoClose: true });
    });
    if (!fn) throw new TypeError(`the module has no exported function ${JSON.stringify(call.name)}`);
    const value = await fn(...args);
    reply({ t: 'ok', id: call.id, value });
  } catch (e) {
    if (e instanceof Error) reply({ t: 'err', id: call.id, error: serializeError(e) });
    else {
      try {
        reply({ t: 'throw', id: call.id, value: e });
      } catch {
        reply({ t: 'err', id: call.id, error: serializeError(new Error(`a non-Error value was thrown: ${String(e)}`)) });
      }
    }
  }
}

const REHEARSAL_ID = -1; // real calls count from 1
const rehearsalTarget = (...args: unknown[]): unknown => args;
/** Where the rehearsal's reply goes: through the encoder and a reader, not the socket. */
const rehearsalReply = (m: WorkerMessage): void => {
  new FrameReader().push(encodeFrame(m));
};

/**
 * Run a call through the whole path once (its frame taken from receiveBuffer,
 * decoded, run, the reply encoded; only the two syscalls are left out), so the
 * first real call does not pay for lazy compilation.
 */
async function rehearse(): Promise<void> {
  const frame = encodeFrame({ t: 'call', id: REHEARSAL_ID, name: '', args: serializeValue([0, 'x', { a: [1] }, 1n]), inputs: [] } satisfies CallMessage);
  lookup('');
  // Only the parent's empty frame is there yet (it sends calls after 'ready'): a real recvmsg with bytes.
  onChannel(READABLE, 0);
  frame.copy(receiveBuffer);
  take(frame.length, []);
  runFrames();
  await busy;
}

function onChannel(events: number, status: number): void {
  if (status < 0) process.exit(70);
  if (events & WRITABLE) flush();
  if (!(events & READABLE)) return;
  for (;;) {
    const got = native.receiveMessage(CHANNEL, receiveBuffer);
    if (got === null) break;
    if (got.eof) process.exit(0); // the parent closed the channel: nothing more to do
    take(got.length, got.fds);
  }
  runFrames();
}

/** Queue the `length` bytes received into receiveBuffer, and the fds that came with them. */
function take(length: number, fds: number[]): void {
  fdQueue.push(...fds);
  reader.push(Buffer.from(receiveBuffer.subarray(0, length)));
}

/** Start every whole call frame received, in order. */
function runFrames(): void {
  for (;;) {
    const message = reader.next() as CallMessage | null | undefined;
    if (message === undefined) break;
    if (message === null || message.t !== 'call') continue;
    // One empty frame ahead of the reply: the parent's CPU, idle while it waits, wakes while this call runs.
    if (message.id !== REHEARSAL_ID) {
      outbox.push(FD_FRAME);
      flush();
    }
    const fds = fdQueue.splice(0, message.inputs.length);
    // One call at a time, in order (reuse > 1 serves them sequentially anyway).
    busy = busy.then(() => runCall(message, fds));
  }
}

async function boot(): Promise<void> {
  watcher = native.watch(CHANNEL, onChannel);
  watcher.ref();
  try {
    exports = (await import(moduleUrl!)) as Record<string, unknown>;
  } catch (e) {
    const error = e instanceof Error ? e : new Error(`importing the module threw a non-Error: ${String(e)}`);
    send({ t: 'boot-error', error: serializeError(error) });
    watcher.start(READABLE);
    setTimeout(() => process.exit(1), 5000).unref(); // the parent kills us once it has the report
    return;
  }
  const names = new Set<string>();
  for (const [k, v] of Object.entries(exports)) if (typeof v === 'function') names.add(k);
  const d = exports.default;
  if (d && typeof d === 'object') for (const [k, v] of Object.entries(d)) if (typeof v === 'function') names.add(k);
  await rehearse();
  watcher.start(READABLE);
  send({ t: 'ready', exports: [...names] });
}

void boot();
