/**
 * Lifecycle events on node:diagnostics_channel. Payloads are built only when
 * someone subscribes, so an unobserved pool pays one boolean check per event.
 */
import { channel } from 'node:diagnostics_channel';

/** 'hatchery:spawn': a child was exec'd. */
export interface SpawnEvent {
  pid: number;
  command: readonly string[];
  zygotePid: number;
  generation: number;
}

/** 'hatchery:exit': a child was reaped. */
export interface ExitEvent {
  pid: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  wallMs: number;
  zygotePid: number;
}

/** 'hatchery:zygote': a zygote started, exited, was retired or found unresponsive. */
export interface ZygoteEvent {
  event: 'start' | 'exit' | 'retire' | 'unresponsive';
  pid: number;
  generation: number;
  /** exit: why, when it was not asked to go. */
  reason?: string;
}

/** 'hatchery:queue': a call entered or left the wait queue. */
export interface QueueEvent {
  event: 'enqueue' | 'dequeue' | 'abort' | 'timeout' | 'reject' | 'closed';
  queued: number;
}

const spawnChannel = channel('hatchery:spawn');
const exitChannel = channel('hatchery:exit');
const zygoteChannel = channel('hatchery:zygote');
const queueChannel = channel('hatchery:queue');

export function publishSpawn(build: () => SpawnEvent): void {
  if (spawnChannel.hasSubscribers) spawnChannel.publish(build());
}

export function publishExit(build: () => ExitEvent): void {
  if (exitChannel.hasSubscribers) exitChannel.publish(build());
}

export function publishZygote(build: () => ZygoteEvent): void {
  if (zygoteChannel.hasSubscribers) zygoteChannel.publish(build());
}

export function publishQueue(build: () => QueueEvent): void {
  if (queueChannel.hasSubscribers) queueChannel.publish(build());
}
