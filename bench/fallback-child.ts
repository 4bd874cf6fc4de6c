/**
 * One environment's measurement for bench/fallback.ts, in a process of its
 * own (so that it sees that environment: HATCHERY_DISABLE_USERNS, another
 * uid, a container's seccomp profile): `node fallback-child.js RUNS WARMUP`
 * times RUNS run('/bin/true') calls of the default profile after WARMUP
 * untimed ones, and prints one JSON line: the samples and what the
 * enforcement report says the sandbox was made of there.
 */
import { closeDefaultZygote, run } from '../src/index.js';

const TRUE_BIN = '/bin/true';

async function main(): Promise<void> {
  const [runs, warmup] = process.argv.slice(2).map(Number);
  if (!Number.isInteger(runs) || runs! < 1 || !Number.isInteger(warmup) || warmup! < 0) {
    throw new RangeError('usage: fallback-child.js RUNS WARMUP');
  }
  const samplesNs: number[] = [];
  let last: Awaited<ReturnType<typeof run>> | undefined;
  for (let i = -warmup!; i < runs!; i++) {
    const start = process.hrtime.bigint();
    last = await run(TRUE_BIN);
    const ns = Number(process.hrtime.bigint() - start);
    if (last.exitCode !== 0) throw new Error(`${TRUE_BIN} ended with ${String(last.exitCode)}: ${last.stderr.slice(0, 200)}`);
    if (i >= 0) samplesNs.push(ns);
  }
  await closeDefaultZygote();
  const e = last!.enforcement;
  const out = { samplesNs, uid: process.getuid?.() ?? -1, namespaces: e.namespaces, tmpdir: e.tmpdir, treeEnds: e.guarantees?.treeEnds ?? null };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`fallback-child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
