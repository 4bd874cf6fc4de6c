// Every example in README.md and docs/*.md is executed, so the docs cannot rot.
//
// Conventions of the Markdown:
// - ```ts / ```js blocks are programs: transpiled (TypeScript) and run with
//   node; `from 'hatchery'` resolves to this checkout's dist/src/index.js.
//   They must exit 0. A ```text block right after one is its exact stdout.
// - ```js file=NAME / ```ts file=NAME blocks are written to NAME beside the
//   programs of the same page (a module an example imports), not run.
// - ```sh blocks with `$ ` lines are transcripts: each command runs with
//   `sh -c` in the repository root and its stdout must equal the lines that
//   follow it. ```sh blocks without `$ ` lines are command lists (npm install,
//   npm test): they would recurse into this very test, so they are reported
//   as skipped; the install commands' effect is checked by a transcript.
// - `<!-- readme-test: skip REASON -->` on the line before a block skips it.
// - An example that imports an export hatchery does not have (yet) is
//   skipped with that reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import ts from 'typescript';
import { benchSection, currentSection, type BenchReport } from '../bench/readme.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'dist', 'src', 'index.js');

export interface Block {
  lang: string;
  /** file=NAME from the info string, if any. */
  file: string | undefined;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The skip reason from a `<!-- readme-test: skip ... -->` line before the block. */
  skip: string | undefined;
  /** The ```text block right after this one, if any. */
  expected: string | undefined;
}

/** The fenced blocks of a Markdown document, in order. */
export function extractBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)?(.*)$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    const info = open[2] ?? '';
    const prev = (lines.slice(0, start).reverse().find((l) => l.trim() !== '') ?? '').trim();
    const skip = /^<!--\s*readme-test:\s*skip\s*(.*?)\s*-->$/.exec(prev)?.[1];
    blocks.push({
      lang: open[1] ?? '',
      file: /\bfile=(\S+)/.exec(info)?.[1],
      code: `${body.join('\n')}\n`,
      line: start + 1,
      skip: skip === undefined ? undefined : skip || 'marked skip',
      expected: undefined,
    });
  }
  for (let k = 0; k + 1 < blocks.length; k++) {
    const b = blocks[k] as Block;
    const next = blocks[k + 1] as Block;
    if ((b.lang === 'ts' || b.lang === 'js') && b.file === undefined && next.lang === 'text') b.expected = next.code;
  }
  return blocks;
}

/** Names a program imports from 'hatchery'. */
export function importedNames(code: string): string[] {
  const names: string[] = [];
  for (const m of code.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"]hatchery['"]/g)) {
    for (const part of (m[1] ?? '').split(',')) {
      const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0];
      if (name && !part.trim().startsWith('type ')) names.push(name);
    }
  }
  return names;
}

function toModule(block: Block): string {
  let code = block.code;
  if (block.lang === 'ts') {
    code = ts.transpileModule(code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
  }
  return code.replace(/from\s*(['"])hatchery\1/g, `from ${JSON.stringify(pathToFileURL(entry).href)}`);
}

/** `$ cmd` lines and the output each must print. */
export function transcript(code: string): Array<{ command: string; output: string }> {
  const steps: Array<{ command: string; output: string[] }> = [];
  for (const line of code.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('$ ')) steps.push({ command: line.slice(2), output: [] });
    else steps[steps.length - 1]?.output.push(line);
  }
  return steps.map((s) => ({ command: s.command, output: s.output.length === 0 ? '' : `${s.output.join('\n')}\n` }));
}

const pages = ['README.md', ...(existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : [])];

// The exports of the built package, to skip examples of APIs that do not exist yet.
const exported = new Set(Object.keys((await import(pathToFileURL(entry).href)) as Record<string, unknown>));

const workDirs: string[] = [];
after(() => {
  for (const d of workDirs) rmSync(d, { recursive: true, force: true });
});

for (const page of pages) {
  const blocks = extractBlocks(readFileSync(join(root, page), 'utf8'));
  const runnable = blocks.filter((b) => ['ts', 'js', 'sh'].includes(b.lang));
  if (runnable.length === 0) continue;
  describe(page, () => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-examples-'));
    // mkdtemp makes it 0700; sandboxed children of a root caller run as uid 65534 and must read the example modules.
    chmodSync(dir, 0o755);
    workDirs.push(dir);
    let n = 0;
    for (const block of runnable) {
      const where = `${page}:${block.line}`;
      if (block.file !== undefined) {
        writeFileSync(join(dir, block.file), toModule(block));
        continue;
      }
      if (block.lang === 'sh') {
        const steps = transcript(block.code);
        if (block.skip !== undefined || steps.length === 0) {
          const reason = block.skip ?? 'a command list without expected output (npm install / npm test would recurse into this test)';
          test(`${where} sh`, { skip: reason }, () => {});
          continue;
        }
        for (const step of steps) {
          test(`${where} $ ${step.command}`, () => {
            // npm's own warnings (about this machine's npm config) are not part of an example's output.
            const env = { ...process.env, npm_config_loglevel: 'error' };
            const r = spawnSync('sh', ['-c', step.command], { cwd: root, encoding: 'utf8', timeout: 120_000, env });
            assert.equal(r.error, undefined);
            assert.equal(r.stdout, step.output, `stdout of: ${step.command}\nstderr: ${r.stderr}`);
          });
        }
        continue;
      }
      const missing = importedNames(block.code).filter((name) => !exported.has(name));
      const skip = block.skip ?? (missing.length > 0 ? `hatchery does not export ${missing.join(', ')} yet` : undefined);
      if (skip !== undefined) process.stdout.write(`# skip ${where}: ${skip}\n`);
      const file = join(dir, `example-${++n}.mjs`);
      test(`${where} ${block.lang} example${block.expected === undefined ? '' : ' (checks its output)'}`, { skip }, () => {
        writeFileSync(file, toModule(block));
        const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
        assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
        if (block.expected !== undefined) assert.equal(r.stdout, block.expected);
      });
    }
  });
}

test('every TypeScript example type-checks against the public API (tsc --noEmit)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-types-'));
  workDirs.push(dir);
  const files: string[] = [];
  for (const page of pages) {
    for (const block of extractBlocks(readFileSync(join(root, page), 'utf8'))) {
      if (block.lang !== 'ts' || block.file !== undefined || block.skip !== undefined) continue;
      const name = `${page.replace(/\W+/g, '_')}_${block.line}.mts`;
      const source = block.code.replace(/from\s*(['"])hatchery\1/g, `from ${JSON.stringify(join(root, 'src', 'index.js'))}`);
      writeFileSync(join(dir, name), `${source}\nexport {};\n`);
      files.push(name);
    }
  }
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'test', 'types', 'tsconfig.json'),
      compilerOptions: { typeRoots: [join(root, 'node_modules', '@types')] },
      files,
    }),
  );
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.ok(files.length >= 5, `${files.length} examples checked`);
});

test('the README opens with the set-up commands', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const head = readme.slice(0, 1500);
  for (const command of ['npm install', 'npx hatchery run -- echo hello', 'npm test']) {
    assert.ok(head.includes(command), `the top of the README shows ${command}`);
  }
});

test('the README benchmark section is exactly what docs/bench.json says (node dist/bench/readme.js docs/bench.json README.md)', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const report = JSON.parse(readFileSync(join(root, 'docs', 'bench.json'), 'utf8')) as BenchReport;
  assert.equal(currentSection(readme), benchSection(report).trim());
  assert.ok(existsSync(join(root, 'docs', 'bench.svg')), 'docs/bench.svg is committed');
});

test('the extractor understands the conventions', () => {
  const md = ['<!-- readme-test: skip because -->', '```ts', 'import { run, type Result } from "hatchery";', '```', '```text', 'out', '```', '```sh', '$ echo a', 'a', '$ true', '```'].join('\n');
  const blocks = extractBlocks(md);
  assert.equal(blocks.length, 3);
  assert.equal(blocks[0]?.skip, 'because');
  assert.equal(blocks[0]?.expected, 'out\n');
  assert.deepEqual(importedNames(blocks[0]?.code ?? ''), ['run']);
  assert.deepEqual(transcript(blocks[2]?.code ?? ''), [
    { command: 'echo a', output: 'a\n' },
    { command: 'true', output: '' },
  ]);
});
