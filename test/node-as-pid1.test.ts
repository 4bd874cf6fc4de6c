// Node as its pid namespace's init (issue 2's environments): a container's
// pid 1 without --init, as `docker run image node app.js` and most Kubernetes
// pods run it. Orphans are then handed to Node, and Node's loop reaps only the
// children it started itself.
//
// A zygote reaps everything it started before it exits. A zygote that is
// killed cannot: the operation it ran and its namespace twin (a caller that
// is not root) die of their parent-death signal and became Node's zombies
// for the rest of its life. Node now reaps those it holds a pidfd for: every
// spawned child, and the twin the zygote told it of (TWIN; src/zygote/adopted.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { packageRoot } from '../src/native/binding.js';
import { runScriptUnder } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const UNSHARE = '/usr/bin/unshare';
const SETPRIV = '/usr/bin/setpriv';
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** What the scripts share: Node's children as /proc shows them, and a wait for Node's zombies to go (5 s at most). */
const PRELUDE = `
const { readFileSync, readdirSync } = await import('node:fs');
const childrenOf = (parent) => {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync('/proc/' + entry + '/stat', 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === parent) out.push({ pid: Number(entry), state: rest[0], comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {}
  }
  return out;
};
const zombiesLeft = async () => {
  let zombies = [];
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 20));
    zombies = childrenOf(process.pid).filter((p) => p.state === 'Z');
    if (zombies.length === 0) break;
  }
  return zombies;
};`;

/** Three zygotes killed from outside under an operation each; after each, what Node's children are (zombies must go). */
const KILL_ZYGOTES = `${PRELUDE}
const out = { pid: process.pid, rounds: [] };
const pool = m.createPool({ minZygotes: 1, maxZygotes: 1 });
for (let i = 0; i < 3; i++) {
  const handle = await pool.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  const zygote = pool.stats().zygotes[0].pid;
  const zygoteChildren = childrenOf(zygote).length;
  process.kill(zygote, 'SIGKILL');
  const ended = await handle.exited.then(() => 'exited', (e) => e.code);
  out.rounds.push({ ended, zygoteChildren, zombies: await zombiesLeft() });
}
out.next = (await pool.run('/bin/true')).exitCode;
await pool.close();
out.left = childrenOf(process.pid);
console.log(JSON.stringify(out));`;

/**
 * A zygote Node kills itself: stopped (it cannot answer), then its pool closed at once. Its operation's handle
 * fails while the zygote still lives (the child is still the zygote's), and Node kills the zygote only after its
 * grace: the child must be reaped once it is Node's, not given up before.
 */
const STOPPED_ZYGOTE = `${PRELUDE}
const pool = m.createPool({ minZygotes: 1, maxZygotes: 1 });
const handle = await pool.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
const zygote = pool.stats().zygotes[0].pid;
const zygoteChildren = childrenOf(zygote).length;
process.kill(zygote, 'SIGSTOP');
await pool.close({ graceMs: 0 });
const ended = await handle.exited.then(() => 'exited', (e) => e.code);
console.log(JSON.stringify({ pid: process.pid, rounds: [{ ended, zygoteChildren, zombies: await zombiesLeft() }], left: childrenOf(process.pid) }));`;

interface Round {
  ended: string;
  zygoteChildren: number;
  zombies: { pid: number; state: string; comm: string }[];
}

function check(out: Record<string, unknown>, zygoteChildren: number): void {
  assert.equal(out.pid, 1, 'Node was not its pid namespace\'s init');
  const rounds = out.rounds as Round[];
  assert.ok(rounds.length >= 1);
  for (const r of rounds) {
    assert.equal(r.ended, 'ZYGOTE_DIED');
    // The operation's init, and for a caller that is not root the twin: what the zygote's death hands to Node.
    assert.ok(r.zygoteChildren >= zygoteChildren, `the zygote had ${r.zygoteChildren} children, expected ${zygoteChildren}`);
    assert.deepEqual(r.zombies, [], 'zombies left to Node by a killed zygote');
  }
  if ('next' in out) assert.equal(out.next, 0, 'the next call did not work');
  assert.deepEqual(out.left, [], 'children of Node left after close()');
}

/** Whether uid 65534 can read this checkout's build (a 0700 home, say, hides it). */
function reachableAsNobody(): boolean {
  const r = spawnSync(SETPRIV, [...NOBODY, '--', '/usr/bin/test', '-r', `${packageRoot}/dist/src/index.js`]);
  return r.status === 0;
}

describe('Node as its pid namespace\'s init (a container\'s pid 1)', { skip: !isRoot ? 'needs root (to make the pid namespaces)' : !existsSync(UNSHARE) ? `${UNSHARE} (util-linux) is missing` : false }, () => {
  test('a root caller: a killed zygote leaves Node no zombie (its operation is reaped through the pidfd Node holds)', () => {
    check(runScriptUnder([UNSHARE, '--pid', '--fork', '--mount-proc', '--'], KILL_ZYGOTES), 1);
  });

  const asNobody = [SETPRIV, ...NOBODY, '--', UNSHARE, '--user', '--map-current-user', '--pid', '--fork', '--mount-proc', '--'];
  const nobodySkip = { skip: reachableAsNobody() ? false : 'uid 65534 cannot read this checkout' };

  test('a caller that is not root: neither the operation nor the zygote\'s namespace twin is left a zombie', nobodySkip, () => {
    check(runScriptUnder(asNobody, KILL_ZYGOTES), 2);
  });

  test('a zygote Node kills itself (stopped, its pool closed at once): its operation is reaped once the zygote is, root and not', nobodySkip, () => {
    check(runScriptUnder([UNSHARE, '--pid', '--fork', '--mount-proc', '--'], STOPPED_ZYGOTE), 1);
    check(runScriptUnder(asNobody, STOPPED_ZYGOTE), 2);
  });
});
