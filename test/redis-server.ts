// A throwaway redis-server on 127.0.0.1 and a free port, for tests and the queue benchmark.
// It saves nothing (no RDB, no AOF), so it leaves no file; under setpriv --pdeathsig it dies
// with the process that started it, however that process ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** Stop it (SIGTERM, SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** The redis-server binary on PATH (or in /usr/bin, /usr/sbin), or null. */
export function findRedisServer(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const SETPRIV = '/usr/bin/setpriv';

async function startOnce(binary: string, port: number): Promise<{ child: ChildProcess; output: string } | { failed: string }> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', tmpdir(), '--loglevel', 'notice'];
  // setpriv execs redis-server in place (same pid) with a parent-death signal.
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ failed: `redis-server did not get ready in 10 s: ${output}` });
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stderr?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ child, output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ failed: `redis-server exited (${code ?? signal}): ${output}` });
    });
  });
}

/** Start redis-server on a free loopback port; a port taken in the meantime is retried. */
export async function startRedis(binary = findRedisServer()): Promise<RedisServer> {
  if (binary === null) throw new Error('redis-server is not installed');
  let lastFailure = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const started = await startOnce(binary, port);
    if ('failed' in started) {
      lastFailure = started.failed;
      continue;
    }
    const { child } = started;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    // Should the test process die without its after() hooks, do not leave Redis behind.
    process.once('exit', kill);
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pid: child.pid as number,
      async stop() {
        process.off('exit', kill);
        child.kill('SIGTERM');
        if (!(await waitExit(child, 5000))) {
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
      },
    };
  }
  throw new Error(`could not start redis-server: ${lastFailure}`);
}
