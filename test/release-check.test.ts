// The release check (scripts/pack.ts checkPacked) finds what a broken tarball lacks or
// wrongly ships. test/packaging.test.ts checks that the real tarballs pass it.
import test from 'ava';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPacked, REPO_ROOT, type PackedPackage } from '../scripts/pack.js';

interface FixtureFile {
  readonly path: string;
  readonly text: string;
}

/** A package folder with these files, described as `npm pack` would list it. */
function fixture(t: { teardown(fn: () => void): void }, manifest: Record<string, unknown>, files: readonly FixtureFile[]): PackedPackage {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-release-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const all = [...files, { path: 'package.json', text: JSON.stringify(manifest) }];
  for (const f of all) {
    mkdirSync(join(dir, f.path, '..'), { recursive: true });
    writeFileSync(join(dir, f.path), f.text);
  }
  return {
    name: String(manifest.name),
    version: String(manifest.version),
    tarball: join(dir, 'fixture.tgz'),
    dir,
    files: all.map((f) => ({ path: f.path, size: f.text.length, mode: 0o644 })),
    manifest: manifest as unknown as PackedPackage['manifest'],
  };
}

const complete = {
  name: '@conclave/fixture',
  version: '0.1.0',
  description: 'a fixture',
  license: 'MIT',
  keywords: ['x'],
  engines: { node: '>=20.8' },
  sideEffects: false,
  repository: { type: 'git', url: 'git+https://example.invalid/conclave.git', directory: 'packages/fixture' },
  exports: { '.': { types: './dist/index.d.ts', 'conclave-source': './src/index.ts', default: './dist/index.js' } },
  dependencies: { ws: '^8.0.0' },
};

test('a complete package passes except for its folder, which is not in the repository', (t) => {
  const p = fixture(t, complete, [
    { path: 'dist/index.js', text: "import { WebSocket } from 'ws';\nimport { readFileSync } from 'node:fs';\nexport const x = 1;\n" },
    { path: 'dist/index.js.map', text: '{}' },
    { path: 'dist/index.d.ts', text: 'export declare const x = 1;\n' },
    { path: 'README.md', text: '# fixture\n' },
  ]);
  copyFileSync(join(REPO_ROOT, 'LICENSE'), join(p.dir, 'LICENSE'));
  const withLicense = { ...p, files: [...p.files, { path: 'LICENSE', size: 1, mode: 0o644 }] };
  t.deepEqual(checkPacked([withLicense]), ['@conclave/fixture: repository.directory packages/fixture is not its folder']);
});

test('missing declarations, maps, README, LICENSE, export targets; shipped src/ and tests; undeclared imports and types', (t) => {
  const p = fixture(t, { ...complete, version: '0.2.0', bin: { fx: './bin/fx.mjs' }, dependencies: { ws: '^8.0.0', '@conclave/core': '0.1.0' } }, [
    { path: 'dist/index.js', text: "import Table from 'cli-table3';\nexport { x } from './x.js';\n" },
    { path: 'dist/index.d.ts', text: "import type { WebSocket } from 'ws';\nexport declare const socket: WebSocket;\n" },
    { path: 'dist/extra.js', text: "export const later = () => import('commander');\n" },
    { path: 'src/index.ts', text: 'export const x = 1;\n' },
    { path: 'dist/test/a.test.js', text: '' },
    { path: 'bin/fx.mjs', text: "import '../dist/index.js';\n" },
  ]);
  const core = fixture(t, { ...complete, name: '@conclave/core', version: '0.2.0', repository: complete.repository, dependencies: {} }, []);
  const problems = checkPacked([p, core]).filter((line) => line.startsWith('@conclave/fixture:'));
  const expected = [
    'dist/index.js has no source map',
    'dist/extra.js has no dist/extra.d.ts',
    'ships src/index.ts',
    'ships dist/test/a.test.js',
    'no README.md',
    'no LICENSE',
    'bin fx (./bin/fx.mjs) has no node shebang',
    'dist/index.js imports cli-table3, which is not in dependencies',
    'dist/extra.js imports commander, which is not in dependencies',
    'dist/index.d.ts uses the types of ws, which ships none: @types/ws belongs in dependencies',
    'depends on @conclave/core@0.1.0, but @conclave/core@0.2.0 is packed beside it',
  ];
  for (const e of expected) t.true(problems.some((line) => line.includes(e)), `expected a problem '${e}' in:\n${problems.join('\n')}`);
});

test('an export whose target is not in the package, and a source condition outside src/', (t) => {
  const p = fixture(t, { ...complete, exports: { '.': { types: './dist/index.d.ts', 'conclave-source': './lib/index.ts', default: './dist/missing.js' } } }, [
    { path: 'dist/index.d.ts', text: '' },
  ]);
  const problems = checkPacked([p]);
  t.true(problems.some((l) => l.includes("export . (default) points at ./dist/missing.js, which is not in the package")), problems.join('\n'));
  t.true(problems.some((l) => l.includes('the conclave-source condition must point into src/')), problems.join('\n'));
});
