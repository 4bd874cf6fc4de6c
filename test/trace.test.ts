/**
 * Spawn tracing (src/zygote/trace.ts), which `npm run bench -- --stages`
 * reads: a traced run reports Node's, the zygote's and the child's moments,
 * in the order they must have happened, on one clock.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import { Stage, TRACE_STAGE_BASE, TraceEvent } from '../src/protocol/wire.js';
import { setSpawnTracer, type SpawnTrace } from '../src/zygote/trace.js';

after(async () => {
  setSpawnTracer(undefined);
  await closeDefaultZygote();
});

async function traced(options: Parameters<typeof run>[2]): Promise<{ trace: SpawnTrace; start: bigint; end: bigint }> {
  const traces: SpawnTrace[] = [];
  setSpawnTracer((t) => traces.push(t));
  try {
    const start = process.hrtime.bigint();
    const result = await run('/bin/true', [], options);
    const end = process.hrtime.bigint();
    assert.equal(result.exitCode, 0);
    assert.equal(traces.length, 1, 'one trace per spawn');
    return { trace: traces[0]!, start, end };
  } finally {
    setSpawnTracer(undefined);
  }
}

function inOrder(trace: SpawnTrace, keys: Array<number | string>, start: bigint, end: bigint): void {
  let previous = start;
  for (const key of keys) {
    const at = typeof key === 'number' ? trace.zygote.get(key) : trace.node.get(key as 'request');
    assert.ok(at !== undefined, `event ${String(key)} was recorded (have ${[...trace.zygote.keys()].join(',')})`);
    assert.ok(at >= previous, `event ${String(key)} comes after the one before it`);
    previous = at;
  }
  assert.ok(previous <= end);
}

test('a traced run with the default profile reports every step in order', async () => {
  const { trace, start, end } = await traced({});
  const stage = (s: number): number => TRACE_STAGE_BASE + s;
  // Only causal chains: Node, the zygote and the child run at once, so e.g. the zygote may read the
  // SPAWN before Node has returned from sending it, and the program may end before Node hears SPAWNED.
  inOrder(trace, ['request', 'sent'], start, end);
  inOrder(trace, ['request', TraceEvent.Received, TraceEvent.Parsed, TraceEvent.Cloned, TraceEvent.IdMaps], start, end);
  inOrder(
    trace,
    [
      stage(Stage.Clone), stage(Stage.Signals), stage(Stage.Setsid), stage(Stage.Pdeathsig), stage(Stage.Stdio), stage(Stage.CloseFds),
      stage(Stage.Userns), stage(Stage.Mount), stage(Stage.Rlimits), TraceEvent.Rearmed, stage(Stage.NoNewPrivs), stage(Stage.Landlock),
      TraceEvent.InitReady, stage(Stage.Seccomp), stage(Stage.Exec), TraceEvent.ExecSeen, 'spawned', 'exit',
    ],
    trace.zygote.get(TraceEvent.Parsed)!,
    end,
  );
  inOrder(trace, [TraceEvent.IdMaps, stage(Stage.Userns)], start, end);
  // The zygote notes SPAWNED sent once its send returns, which may be after Node has it.
  inOrder(trace, [TraceEvent.ExecSeen, TraceEvent.SpawnedSent, TraceEvent.ExitSeen], start, end);
  inOrder(trace, [stage(Stage.Exec), TraceEvent.ProgramReaped, TraceEvent.ExitSeen, 'exit'], start, end);
  // The init reaped the whole namespace itself, so the exit was reported before the init's own exit (its reaping is not traced).
  assert.equal(trace.zygote.has(TraceEvent.Reaped), false);
});

test('a traced run without a sandbox has no namespace steps and no init', async () => {
  const { trace, start, end } = await traced({ sandbox: false });
  inOrder(trace, ['request', TraceEvent.Received, TraceEvent.Parsed, TraceEvent.Cloned, TraceEvent.ExecSeen, TraceEvent.Reaped, 'exit'], start, end);
  inOrder(trace, ['request', 'sent'], start, end);
  assert.equal(trace.zygote.has(TraceEvent.IdMaps), false);
  assert.equal(trace.zygote.has(TraceEvent.InitReady), false);
  assert.equal(trace.zygote.has(TRACE_STAGE_BASE + Stage.Seccomp), true);
});

test('without a tracer nothing is traced', async () => {
  let calls = 0;
  setSpawnTracer(() => calls++);
  setSpawnTracer(undefined);
  await run('/bin/true');
  assert.equal(calls, 0);
});
