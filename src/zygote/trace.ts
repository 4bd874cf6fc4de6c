/**
 * Spawn tracing, for `npm run bench -- --stages` (bench/stages.ts): while a
 * tracer is set, every SPAWN carries SpawnFlag.Trace, the zygote and the
 * child record when each step ended (CLOCK_MONOTONIC, the clock of
 * process.hrtime.bigint()), and the Zygote adds its own moments. One record
 * per spawn reaches the tracer when its exit (or setup failure) arrives.
 *
 * Not part of the public API: it costs a few system calls per stage and
 * exists to find out where a spawn's time goes.
 */

/** Node-side moments of one spawn. */
export type NodeTraceEvent = 'request' | 'sent' | 'spawned' | 'exit';

export interface SpawnTrace {
  zygotePid: number;
  requestId: number;
  /** Node's moments (hrtime ns). */
  node: Map<NodeTraceEvent, bigint>;
  /** The zygote's and the child's (protocol TraceEvent numbers → ns); empty until the Trace message arrives. */
  zygote: ReadonlyMap<number, bigint>;
}

export type SpawnTracer = (trace: SpawnTrace) => void;

let current: SpawnTracer | undefined;

/** Set (or with undefined, clear) the process-wide tracer. */
export function setSpawnTracer(tracer: SpawnTracer | undefined): void {
  current = tracer;
}

export function spawnTracer(): SpawnTracer | undefined {
  return current;
}
