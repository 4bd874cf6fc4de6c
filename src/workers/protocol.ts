/**
 * The warm-worker channel: one AF_UNIX stream socket, the worker's fd 0, both
 * directions. Every message is a frame: u32 LE payload length, then a
 * v8.serialize()d payload. A zero-length frame carries nothing but the fds
 * attached to it with SCM_RIGHTS; the next CALL says how many of the queued
 * fds are its inputs. Imported by the bootstrap too, so it must stay free of
 * anything but node builtins.
 */
import { deserialize, serialize } from 'node:v8';

/** A frame larger than this is a protocol violation (arguments or results are capped). */
export const MAX_FRAME = 256 * 1024 * 1024;
/** At most this many fds travel with one sendmsg (the addon keeps 3 per datagram). */
export const FDS_PER_FRAME = 3;
export const MAX_INPUTS = 16;

export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  code?: string | number;
}

/** Parent -> worker. */
export interface CallMessage {
  t: 'call';
  id: number;
  name: string;
  args: unknown[];
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
export function encodeFrame(message: unknown): Buffer {
  let payload: Buffer;
  try {
    payload = serialize(message);
  } catch (e) {
    const error = new TypeError((e as Error).message, { cause: e });
    error.name = 'DataCloneError';
    throw error;
  }
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

  /** The next complete frame: undefined when incomplete, null for an fd-only frame. */
  next(): unknown | null | undefined {
    if (this.length < 4) return undefined;
    if (this.chunks.length > 1 && this.chunks[0]!.length < 4) this.compact();
    const size = this.chunks[0]!.readUInt32LE(0);
    if (size > MAX_FRAME) throw new RangeError(`frame of ${size} bytes exceeds the limit`);
    if (this.length < 4 + size) return undefined;
    this.compact();
    const buf = this.chunks[0]!;
    const payload = buf.subarray(4, 4 + size);
    const rest = buf.subarray(4 + size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return size === 0 ? null : deserialize(payload);
  }

  private compact(): void {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
  }
}

const STANDARD_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

export function serializeError(e: Error): SerializedError {
  const out: SerializedError = { name: String(e.name), message: String(e.message), stack: typeof e.stack === 'string' ? e.stack : undefined };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  return out;
}

export function deserializeError(s: SerializedError): Error {
  const Ctor = STANDARD_ERRORS[s.name] ?? Error;
  const e = new Ctor(s.message);
  if (e.name !== s.name) Object.defineProperty(e, 'name', { value: s.name, configurable: true, writable: true });
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.code !== undefined) (e as Error & { code?: string | number }).code = s.code;
  return e;
}
