// The code's structure (docs/ARCHITECTURE.md): no import cycle between the
// folders of src/, checked by scripts/check-cycles.mjs over the sources.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const scriptPath = join(root, 'scripts', 'check-cycles.mjs');

type Graph = Map<string, Map<string, Array<[string, string]>>>;
interface CycleScript {
  folderGraph(srcDir: string): Graph;
  folderCycles(graph: Graph): string[][];
  describeCycles(graph: Graph, cycles: string[][]): string[];
}
const script = (await import(pathToFileURL(scriptPath).href)) as CycleScript;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeSrc(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-structure-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test('src/ has no import cycle between its folders', () => {
  const r = spawnSync(process.execPath, [scriptPath], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cycles = script.folderCycles(script.folderGraph(join(root, 'src')));
  assert.deepEqual(cycles, []);
});

test('the facades sit above the pool: nothing under src/spawn or src/zygote imports src/pool', () => {
  const graph = script.folderGraph(join(root, 'src'));
  for (const folder of ['spawn', 'zygote', 'options', 'policy', 'protocol', 'native']) {
    assert.equal(graph.get(folder)?.has('pool'), false, `src/${folder} imports src/pool`);
  }
});

test('the check finds a cycle through type-only imports, re-exports and dynamic imports, and names the imports', () => {
  const src = fakeSrc({
    'a/one.ts': "import type { B } from '../b/two.js';\nexport type A = B;\n",
    'b/two.ts': "export { c } from '../c/three.js';\nexport type B = number;\n",
    'c/three.ts': "export const c = () => import('../a/one.js');\n",
    'd/four.ts': "import { c } from '../c/three.js';\n// import '../d/x.js' in a comment is no import\nexport const d = c;\n",
    'index.ts': "export * from './d/four.js';\n",
  });
  const graph = script.folderGraph(src);
  assert.deepEqual(script.folderCycles(graph), [['a', 'b', 'c']]);
  const text = script.describeCycles(graph, script.folderCycles(graph)).join('\n');
  assert.match(text, /a -> b: src\/a\/one\.ts imports '\.\.\/b\/two\.js'/);
  assert.match(text, /c -> a: src\/c\/three\.ts imports '\.\.\/a\/one\.js'/);
  const r = spawnSync(process.execPath, [scriptPath, src], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /import cycle between src\/ folders: a, b, c/);
});

test('a top-level file is a node of its own, and imports within one folder are not cycles', () => {
  const src = fakeSrc({
    'index.ts': "export { x } from './errors.js';\nexport { p } from './p/one.js';\n",
    'errors.ts': "import { p } from './p/one.js';\nexport const x = p;\n",
    'p/one.ts': "import { q } from './sub/two.js';\nexport const p = q;\n",
    'p/sub/two.ts': "import type { P } from '../one.js';\nexport const q = 1;\nexport type Q = P;\n",
  });
  assert.deepEqual(script.folderCycles(script.folderGraph(src)), []);
  const back = fakeSrc({
    'errors.ts': "import { p } from './p/one.js';\nexport const x = p;\n",
    'p/one.ts': "import { x } from '../errors.js';\nexport const p = 1;\nexport const y = x;\n",
  });
  assert.deepEqual(script.folderCycles(script.folderGraph(back)), [['errors', 'p']]);
});
