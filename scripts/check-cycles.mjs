#!/usr/bin/env node
// Fails on any import cycle between the folders of src/ (docs/ARCHITECTURE.md,
// "Layers and processes": each folder only depends on the ones below it).
//
// Every relative import of every .ts file under src/ counts, type-only ones
// and `export ... from` included, as TypeScript's own pre-processor reads
// them (typescript is already a devDependency). A file directly under src/
// (index.ts, errors.ts) is a node of its own; src/policy/syscalls/ belongs to
// src/policy/. Cycles inside one folder are not this check's business.
//
//   node scripts/check-cycles.mjs [SRC_DIR]   exit 0: no cycle; exit 1: each cycle printed with the imports that close it
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The folder node of a file under `srcDir`: its first path segment, or the file's own name for a file at the top. */
export function folderOf(srcDir, file) {
  const parts = relative(srcDir, file).split(sep);
  return parts.length > 1 ? parts[0] : parts[0].replace(/\.ts$/, '');
}

/** The .ts file a relative specifier names (NodeNext: './x.js' is './x.ts'), or undefined when it leaves `srcDir`. */
function resolveImport(srcDir, from, specifier) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const target = resolve(dirname(from), specifier).replace(/\.(m|c)?js$/, '.$1ts');
  const rel = relative(srcDir, target);
  if (rel.startsWith('..') || rel === '') return undefined;
  return target;
}

/**
 * The folder graph of `srcDir`: Map<from folder, Map<to folder, [file, specifier][]>>,
 * one entry per import that crosses folders.
 */
export function folderGraph(srcDir) {
  const graph = new Map();
  for (const file of walk(srcDir)) {
    const from = folderOf(srcDir, file);
    if (!graph.has(from)) graph.set(from, new Map());
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      const target = resolveImport(srcDir, file, fileName);
      if (target === undefined) continue;
      const to = folderOf(srcDir, target);
      if (to === from) continue;
      const edges = graph.get(from);
      if (!edges.has(to)) edges.set(to, []);
      edges.get(to).push([relative(srcDir, file), fileName]);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan), each sorted; every one is a cycle. */
export function folderCycles(graph) {
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  const visit = (v) => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), indexOf.get(w)));
      }
    }
    if (low.get(v) === indexOf.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indexOf.has(v)) visit(v);
  return cycles;
}

/** Human-readable lines for each cycle: the imports between its folders. */
export function describeCycles(graph, cycles) {
  const lines = [];
  for (const scc of cycles) {
    lines.push(`import cycle between src/ folders: ${scc.join(', ')}`);
    const members = new Set(scc);
    for (const from of scc) {
      for (const [to, imports] of graph.get(from) ?? []) {
        if (!members.has(to)) continue;
        for (const [file, specifier] of imports) lines.push(`  ${from} -> ${to}: src/${file.split(sep).join('/')} imports '${specifier}'`);
      }
    }
  }
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const srcDir = resolve(process.argv[2] ?? join(root, 'src'));
  const graph = folderGraph(srcDir);
  const cycles = folderCycles(graph);
  if (cycles.length === 0) {
    process.stdout.write(`no import cycles between the ${graph.size} folders of ${relative(process.cwd(), srcDir) || '.'}\n`);
  } else {
    process.stderr.write(`${describeCycles(graph, cycles).join('\n')}\n`);
    process.exitCode = 1;
  }
}
