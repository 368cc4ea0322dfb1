// No circle of imports inside any package's src (type-only imports count too): a module
// that imports, through others, itself cannot be understood or tested on its own.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGES = fileURLToPath(new URL('../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The relative modules `text` imports or re-exports, statically or dynamically. */
export function relativeImports(text: string): string[] {
  const specs: string[] = [];
  const patterns = [/\b(?:import|export)\s[^;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/gs, /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g, /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

/** Each cycle once, as the files along it (the first repeated at the end). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

test('findCycles finds a circle of three and none in a chain', (t) => {
  const chain = new Map([['a', ['b']], ['b', ['c']], ['c', []]]);
  t.deepEqual(findCycles(chain), []);
  const circle = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  t.deepEqual(findCycles(circle), [['a', 'b', 'c', 'a']]);
  t.deepEqual(relativeImports("import type {\n  X,\n} from './x.js';\nexport * from '../y.js';\nimport './z.js';\nawait import('./w.js');\nimport { a } from '@pkg/a';"), ['./x.js', '../y.js', './z.js', './w.js']);
});

test('no package has a circle of imports inside its src', (t) => {
  const packages = readdirSync(PACKAGES).filter((p) => existsSync(join(PACKAGES, p, 'src')));
  t.true(packages.length >= 5, `found packages: ${packages.join(', ')}`);
  const found: string[] = [];
  for (const pkg of packages) {
    const src = join(PACKAGES, pkg, 'src');
    const graph = new Map<string, string[]>();
    for (const file of sourceFiles(src)) {
      const targets = relativeImports(readFileSync(file, 'utf8')).map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      graph.set(file, targets.filter((f) => f.startsWith(src)));
    }
    for (const cycle of findCycles(graph)) found.push(`${pkg}: ${cycle.map((f) => relative(src, f)).join(' -> ')}`);
  }
  t.deepEqual(found, []);
});
