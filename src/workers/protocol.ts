/**
 * The warm-worker channel: one AF_UNIX stream socket, the worker's fd 0, both
 * directions. Every message is a frame: u32 LE payload length, then a
 * v8.serialize()d payload. From the parent, a zero-length frame carries
 * nothing but the fds attached to it with SCM_RIGHTS; the next CALL says how
 * many of the queued fds are its inputs. The parent writes one such frame,
 * with no fds, as soon as the channel is paired (the worker reads it while it
 * rehearses, before 'ready'), and one just before each CALL is encoded, which
 * wakes the worker's idle CPU meanwhile. From the worker, one zero-length
 * frame may come per call, as soon as it has taken the CALL and before its
 * reply: it wakes the parent's CPU while the call runs; any other is out of
 * turn. Imported by the bootstrap too, so it must stay free of anything but
 * node builtins.
 *
 * The parent trusts nothing a worker writes: parseWorkerMessage() checks every
 * field of every frame (types, lengths, which keys are present) and
 * deserializeError() rebuilds errors from those checked strings only.
 */
import { DefaultDeserializer, deserialize, serialize } from 'node:v8';

/** A frame larger than this is a protocol violation (arguments or results are capped). */
export const MAX_FRAME = 256 * 1024 * 1024;
/** At most this many fds travel with one sendmsg (the addon keeps 3 per datagram). */
export const FDS_PER_FRAME = 3;
export const MAX_INPUTS = 16;
/** Lengths (UTF-16 code units) a worker's frames may use; the bootstrap clamps honest errors to them. */
export const MAX_ERROR_NAME = 1024;
export const MAX_ERROR_CODE = 1024;
export const MAX_ERROR_TEXT = 4 * 1024 * 1024;
export const MAX_EXPORTS = 65_536;
export const MAX_EXPORT_NAME = 1024;

export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  code?: string | number;
}

/** Parent -> worker. */
export interface CallMessage {
  t: 'call';
  /** 1, 2, ... per worker: the reply must carry it. */
  id: number;
  name: string;
  /** v8.serialize()d argument array: encoded when the call is made, so an unclonable argument fails it at once. */
  args: Uint8Array;
  /** argument indexes to replace, in order, with the fds queued before this frame */
  inputs: number[];
}

/** Worker -> parent. */
export type WorkerMessage =
  | { t: 'ready'; exports: string[] }
  | { t: 'boot-error'; error: SerializedError }
  | { t: 'ok'; id: number; value: unknown }
  | { t: 'err'; id: number; error: SerializedError }
  | { t: 'throw'; id: number; value: unknown };

/** v8.serialize() with its clone failure as a TypeError named DataCloneError (as structuredClone reports it). */
export function serializeValue(value: unknown): Buffer {
  try {
    return serialize(value);
  } catch (e) {
    const error = new TypeError((e as Error).message, { cause: e });
    error.name = 'DataCloneError';
    throw error;
  }
}

export function encodeFrame(message: unknown): Buffer {
  const payload = serializeValue(message);
  if (payload.length > MAX_FRAME) throw new RangeError(`message of ${payload.length} bytes exceeds the ${MAX_FRAME} byte frame limit`);
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32LE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** The 4 bytes that carry only fds. */
export const FD_FRAME = Buffer.alloc(4);

/** Accumulates stream bytes and yields whole payloads (null for fd-only frames). */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Bytes held: complete frames not yet taken plus the start of the next one. */
  get buffered(): number {
    return this.length;
  }

  /** The payload length the next frame's header announces, or undefined before its 4 bytes are in. */
  peekSize(): number | undefined {
    if (this.length < 4) return undefined;
    if (this.chunks[0]!.length < 4) this.compact();
    return this.chunks[0]!.readUInt32LE(0);
  }

  /** The next complete frame's payload: undefined when incomplete, null for an fd-only frame. No size check: see peekSize(). */
  nextPayload(): Buffer | null | undefined {
    const size = this.peekSize();
    if (size === undefined || this.length < 4 + size) return undefined;
    this.compact();
    const buf = this.chunks[0]!;
    const payload = buf.subarray(4, 4 + size);
    const rest = buf.subarray(4 + size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return size === 0 ? null : payload;
  }

  /** The next complete frame, deserialized: undefined when incomplete, null for an fd-only frame. */
  next(): unknown | null | undefined {
    const size = this.peekSize();
    if (size !== undefined && size > MAX_FRAME) throw new RangeError(`frame of ${size} bytes exceeds the limit`);
    const payload = this.nextPayload();
    return payload ? deserialize(payload) : payload;
  }

  /** Drop everything held. */
  clear(): void {
    this.chunks = [];
    this.length = 0;
  }

  private compact(): void {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
  }
}

/** Standard constructors by exact name: a Map, so no name can reach Object.prototype. */
const STANDARD_ERRORS = new Map<string, ErrorConstructor>([
  ['Error', Error],
  ['TypeError', TypeError],
  ['RangeError', RangeError],
  ['SyntaxError', SyntaxError],
  ['ReferenceError', ReferenceError],
  ['EvalError', EvalError],
  ['URIError', URIError],
]);

function clamp(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** What the bootstrap sends for an Error: plain strings within the limits parseWorkerMessage() enforces. */
export function serializeError(e: Error): SerializedError {
  let stack: string | undefined;
  try {
    stack = typeof e.stack === 'string' ? clamp(e.stack, MAX_ERROR_TEXT) : undefined;
  } catch {
    stack = undefined;
  }
  const out: SerializedError = { name: clamp(String(e.name), MAX_ERROR_NAME), message: clamp(String(e.message), MAX_ERROR_TEXT), stack };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') out.code = clamp(code, MAX_ERROR_CODE);
  else if (typeof code === 'number' && Number.isFinite(code)) out.code = code;
  return out;
}

/** DefaultDeserializer's hook for Buffers and typed arrays, which Node's types leave out. */
type HostObjectReading = new (buffer: Buffer) => DefaultDeserializer & {
  _readHostObject(): NodeJS.TypedArray | DataView;
  /** Node's own (DefaultDeserializer reads typed arrays with it): skips `length` bytes and returns where they started. */
  _readRawBytes?(length: number): number;
};

/**
 * v8's deserializer, except that every Buffer, typed array and DataView it
 * makes owns a fresh ArrayBuffer of exactly its own size. v8.deserialize()
 * makes them views into the frame's memory (keeping all of a large frame
 * alive for a 1-byte result) or, when unaligned, copies into Node's shared
 * Buffer pool, whose other bytes a caller could then read through `.buffer`.
 */
class OwningDeserializer extends (DefaultDeserializer as unknown as HostObjectReading) {
  override _readHostObject(): NodeJS.TypedArray | DataView {
    const view = super._readHostObject();
    const own = new ArrayBuffer(view.byteLength);
    new Uint8Array(own).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    if (Buffer.isBuffer(view)) return Buffer.from(own);
    if (view instanceof DataView) return new DataView(own);
    const Ctor = view.constructor as new (buffer: ArrayBuffer) => NodeJS.TypedArray;
    return new Ctor(own);
  }
}

/**
 * A worker's frame payload, deserialized into values that share no memory
 * with the frame or anything else. The value must use the whole payload:
 * bytes after it are refused, not dropped (a frame means one value).
 */
export function deserializeOwned(payload: Buffer): unknown {
  const d = new OwningDeserializer(payload);
  d.readHeader();
  const value: unknown = d.readValue();
  const end = d._readRawBytes !== undefined ? d._readRawBytes(0) : hasMoreBytes(d) ? -1 : payload.length;
  if (end !== payload.length) throw new RangeError(`the value ends before the frame does (${payload.length} bytes)`);
  return value;
}

/** Without Node's _readRawBytes: whether one more byte can be read. */
function hasMoreBytes(d: DefaultDeserializer): boolean {
  try {
    d.readRawBytes(1);
    return true;
  } catch {
    return false;
  }
}

/** An error rebuilt from checked strings: its own properties are only name, message, stack and code. */
export function deserializeError(s: SerializedError): Error {
  const Ctor = STANDARD_ERRORS.get(s.name) ?? Error;
  const e = new Ctor(s.message);
  if (e.name !== s.name) Object.defineProperty(e, 'name', { value: s.name, configurable: true, writable: true, enumerable: false });
  if (s.stack !== undefined) Object.defineProperty(e, 'stack', { value: s.stack, configurable: true, writable: true, enumerable: false });
  if (s.code !== undefined) Object.defineProperty(e, 'code', { value: s.code, configurable: true, writable: true, enumerable: true });
  return e;
}

/** A worker's frame that breaks the protocol; `message` says how (never echoing more than a short prefix of its bytes). */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** The own keys must be exactly `required` plus any of `optional`. */
function checkKeys(o: Record<string, unknown>, what: string, required: readonly string[], optional: readonly string[] = []): void {
  const keys = Reflect.ownKeys(o);
  for (const k of keys) {
    if (typeof k !== 'string' || (!required.includes(k) && !optional.includes(k))) {
      throw new ProtocolViolation(`${what} has an unexpected key ${describeKey(k)}`);
    }
  }
  for (const k of required) if (!Object.hasOwn(o, k)) throw new ProtocolViolation(`${what} lacks "${k}"`);
}

function describeKey(k: string | symbol): string {
  return typeof k === 'symbol' ? 'symbol' : JSON.stringify(clamp(k, 64));
}

function checkString(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string') throw new ProtocolViolation(`${what} is ${kind(v)}, not a string`);
  if (v.length > max) throw new ProtocolViolation(`${what} is ${v.length} characters long (at most ${max})`);
  return v;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return /^[aeiou]/.test(typeof v) ? `an ${typeof v}` : `a ${typeof v}`;
}

function checkError(v: unknown, what: string): SerializedError {
  if (!isRecord(v)) throw new ProtocolViolation(`${what} is ${kind(v)}, not a plain object`);
  checkKeys(v, what, ['name', 'message', 'stack'], ['code']);
  const name = checkString(v.name, `${what}.name`, MAX_ERROR_NAME);
  const message = checkString(v.message, `${what}.message`, MAX_ERROR_TEXT);
  const stack = v.stack === undefined ? undefined : checkString(v.stack, `${what}.stack`, MAX_ERROR_TEXT);
  const out: SerializedError = { name, message, stack };
  if (Object.hasOwn(v, 'code')) {
    const code = v.code;
    if (typeof code === 'number') {
      if (!Number.isFinite(code)) throw new ProtocolViolation(`${what}.code is not a finite number`);
      out.code = code;
    } else {
      out.code = checkString(code, `${what}.code`, MAX_ERROR_CODE);
    }
  }
  return out;
}

function checkId(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ProtocolViolation(`the reply's id is not a positive integer`);
  return v;
}

/**
 * Checks a worker's frame (already deserialized) and returns a fresh message
 * made of the checked values. Throws ProtocolViolation. `value` of 'ok' and
 * 'throw' is the function's result, structured-cloned data, and passes as is.
 */
export function parseWorkerMessage(v: unknown): WorkerMessage {
  if (!isRecord(v)) throw new ProtocolViolation(`the frame is ${kind(v)}, not a plain object`);
  const t = v.t;
  if (!Object.hasOwn(v, 't') || typeof t !== 'string') throw new ProtocolViolation('the frame has no message type');
  switch (t) {
    case 'ready': {
      checkKeys(v, 'the ready frame', ['t', 'exports']);
      const list = v.exports;
      if (!Array.isArray(list)) throw new ProtocolViolation(`the ready frame's exports is ${kind(list)}, not an array`);
      if (list.length > MAX_EXPORTS) throw new ProtocolViolation(`the ready frame lists ${list.length} exports (at most ${MAX_EXPORTS})`);
      const exports: string[] = [];
      for (let i = 0; i < list.length; i++) exports.push(checkString(list[i], `export ${i}`, MAX_EXPORT_NAME));
      return { t, exports };
    }
    case 'boot-error':
      checkKeys(v, 'the boot-error frame', ['t', 'error']);
      return { t, error: checkError(v.error, "the boot-error frame's error") };
    case 'ok':
    case 'throw':
      checkKeys(v, `the ${t} frame`, ['t', 'id', 'value']);
      return { t, id: checkId(v.id), value: v.value };
    case 'err':
      checkKeys(v, 'the err frame', ['t', 'id', 'error']);
      return { t, id: checkId(v.id), error: checkError(v.error, "the err frame's error") };
    default:
      throw new ProtocolViolation(`unknown message type ${JSON.stringify(clamp(t, 64))}`);
  }
}
