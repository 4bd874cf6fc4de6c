/**
 * A connected AF_UNIX stream pair made from Node's own sockets: the addon has
 * pipe() but no socketpair(), and native code is not touched for this. A pool
 * listens on a random abstract-namespace name; each pair is one connection
 * whose first bytes are a nonce only this process knows. Sandboxed workers
 * cannot reach the listener (Landlock's abstract-socket scope, or their own
 * network namespace below ABI 6), and a stranger's connection is dropped.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

const NONCE_BYTES = 32;
const PAIR_TIMEOUT_MS = 5000;

export interface SocketPair {
  /** This process's end (a normal net.Socket, paused until someone reads). */
  parent: Socket;
  /** The end for the child: a paused net.Socket that never reads; destroy it once the zygote holds its copy. */
  child: Socket;
  childFd: number;
}

export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no fd');
  return fd;
}

export class Pairer {
  private server: Server | undefined;
  private listening: Promise<void> | undefined;
  private readonly address = `\0hatchery-workers-${randomBytes(12).toString('hex')}`;
  private readonly waiting = new Map<string, (s: Socket) => void>();

  private listen(): Promise<void> {
    if (this.listening) return this.listening;
    const server = createServer({ pauseOnConnect: true }, (socket) => this.onConnection(socket));
    this.server = server;
    server.unref();
    this.listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: this.address }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.listening;
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), PAIR_TIMEOUT_MS);
    timer.unref();
    const onReadable = (): void => {
      const nonce = socket.read(NONCE_BYTES) as Buffer | null;
      if (nonce === null) return;
      socket.off('readable', onReadable);
      clearTimeout(timer);
      const done = this.waiting.get(nonce.toString('hex'));
      if (!done) {
        socket.destroy();
        return;
      }
      this.waiting.delete(nonce.toString('hex'));
      done(socket);
    };
    socket.on('readable', onReadable);
  }

  async pair(): Promise<SocketPair> {
    await this.listen();
    const nonce = randomBytes(NONCE_BYTES);
    const key = nonce.toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const accepted = new Promise<Socket>((resolve, reject) => {
      timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error('socket pairing timed out'));
      }, PAIR_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(key, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
    // Awaited only once the nonce is written: a failure before that must not leave it to reject unheard.
    accepted.catch(() => {});
    const child = connect({ path: this.address });
    // Never read on this end: its bytes belong to the worker.
    child.pause();
    child.on('error', () => {});
    try {
      await once(child, 'connect');
      await new Promise<void>((resolve, reject) => child.write(nonce, (e) => (e ? reject(e) : resolve())));
      const parent = await accepted;
      return { parent, child, childFd: socketFd(child) };
    } catch (e) {
      clearTimeout(timer);
      this.waiting.delete(key);
      child.destroy();
      // A socket the server accepted for this nonce after all goes nowhere.
      void accepted.then((s) => s.destroy(), () => {});
      throw e;
    }
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
    this.listening = undefined;
  }
}
