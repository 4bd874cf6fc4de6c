/** What a completed run job returns (its `returnvalue` in BullMQ). */
import type { Result } from '../spawn/run.js';

/** Where the time of one attempt went, in ms. */
export interface JobTimings {
  /** From the job's creation (the producer's clock) to this attempt's start; includes any `delay`. */
  queuedMs: number;
  /** The whole pool.run() call on the worker: spawn, run, collect. */
  runMs: number;
  /** The program, from exec to reaping (the zygote's clock). */
  wallMs: number;
  userCpuMs: number;
  sysCpuMs: number;
}

/**
 * A run()'s Result - exit code, signal, stdout, stderr (UTF-8, each capped
 * by the profile's maxOutputBytes), timedOut, truncated, limit, enforcement -
 * plus the profile it ran under and its timings.
 */
export interface QueueRunResult extends Result<string> {
  profile: string;
  timings: JobTimings;
}

/**
 * The most UTF-8 bytes one output stream may take in a completed job's
 * stored JSON. BullMQ stores the return value as one JSON string (and puts
 * it in the queue's event stream too), and JSON escapes what a program may
 * print: a control byte is 6 bytes (`\u0001`), an invalid UTF-8 byte (U+FFFD)
 * 3. Two 64 MiB streams of control bytes made a JSON text longer than V8's
 * longest string: BullMQ then failed the job with "Invalid string length"
 * and retried the program. Printable text up to the 64 MiB profile ceiling
 * is never cut; 2 × this stays far from Redis's 512 MB and V8's limit.
 */
export const MAX_STREAM_JSON_BYTES = 128 * 1024 * 1024;

/**
 * `text`, cut at the end to the longest prefix whose JSON string form
 * (JSON.stringify's escapes, then UTF-8) takes at most `budget` bytes; a
 * surrogate pair is never split. `text` itself when it fits.
 */
export function cutToJsonBytes(text: string, budget: number): string {
  // No UTF-16 unit takes more than 6 bytes.
  if (text.length * 6 <= budget) return text;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let n: number;
    let pair = false;
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) n = 2;
    else if (c < 0x20) n = 6;
    else if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      pair = next >= 0xdc00 && next <= 0xdfff;
      n = pair ? 4 : 6;
    } else if (c >= 0xdc00 && c <= 0xdfff) n = 6;
    else n = 3;
    if (bytes + n > budget) return text.slice(0, i);
    bytes += n;
    if (pair) i++;
  }
  return text;
}
