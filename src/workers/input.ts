/**
 * Inputs handed to a worker as open file descriptors (SCM_RIGHTS), so the
 * sandbox needs no path access to the caller's files. Inside the worker each
 * input argument arrives as an fs.ReadStream (its `.fd` is the fd).
 */
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidOptionTypeError } from '../errors.js';
import { loadBinding } from '../native/binding.js';

/** What the parent must do to hand one input over: the fd to send and what to do after. */
export interface OpenedInput {
  fd: number;
  /** Called once the fd has been sent (or the call failed before sending). */
  release(): void;
}

export class WorkerInput {
  private constructor(private readonly opener: () => OpenedInput) {}

  /** An fd the caller owns and keeps: a duplicate travels, the caller closes its own. Shares the file offset. */
  static fd(fd: number): WorkerInput {
    if (!Number.isInteger(fd) || fd < 0) throw new InvalidOptionTypeError('fd', `must be a non-negative integer, got ${String(fd)}`);
    return new WorkerInput(() => ({ fd, release: () => {} }));
  }

  /** A file opened read-only by this process when the call is dispatched. */
  static file(path: string): WorkerInput {
    if (typeof path !== 'string' || !isAbsolute(path)) {
      throw new InvalidOptionTypeError('path', `must be an absolute path, got ${JSON.stringify(path)}`);
    }
    return new WorkerInput(() => {
      const fd = openSync(path, 'r');
      return { fd, release: () => closeSync(fd) };
    });
  }

  /** A stream copied into a pipe whose read end travels to the worker. */
  static stream(source: Readable): WorkerInput {
    if (!source || typeof (source as Readable).pipe !== 'function') {
      throw new InvalidOptionTypeError('stream', 'must be a Readable stream');
    }
    return new WorkerInput(() => {
      const native = loadBinding();
      const [readEnd, writeEnd] = native.pipe();
      const sink = new Socket({ fd: writeEnd, readable: false, writable: true });
      // A worker that stops reading (or dies) must not make the copy throw.
      sink.on('error', () => source.unpipe(sink));
      source.on('error', (e) => sink.destroy(e));
      source.pipe(sink);
      return { fd: readEnd, release: () => native.close(readEnd) };
    });
  }

  /** @internal */
  open(): OpenedInput {
    return this.opener();
  }
}
