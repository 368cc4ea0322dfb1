// Build every workspace to dist/, pack it as npm would publish it, and check that each
// tarball is complete. Used by `npm run release` (scripts/release-check.ts) and by the
// packaging test (test/packaging.test.ts). Nothing here publishes anything.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = new URL('..', import.meta.url).pathname;
/** The export condition that points at src/ inside the repository; never taken by an installed package. */
export const SOURCE_CONDITION = 'conclave-source';

const BUILD_TIMEOUT_MS = 5 * 60_000;
const PACK_TIMEOUT_MS = 3 * 60_000;
const INSTALL_TIMEOUT_MS = 6 * 60_000;
const OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;

export interface PackedFile {
  readonly path: string;
  readonly size: number;
  readonly mode: number;
}

export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  /** The absolute path of the .tgz. */
  readonly tarball: string;
  /** The workspace folder it was packed from. */
  readonly dir: string;
  readonly files: readonly PackedFile[];
  readonly manifest: Manifest;
}

interface Manifest {
  readonly name: string;
  readonly version?: string;
  readonly description?: string;
  readonly license?: string;
  readonly keywords?: readonly string[];
  readonly engines?: { readonly node?: string };
  readonly repository?: { readonly type?: string; readonly url?: string; readonly directory?: string };
  readonly sideEffects?: boolean | readonly string[];
  readonly exports?: Record<string, string | Record<string, string>>;
  readonly bin?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly workspaces?: readonly string[];
}

/** `tsc -b`: every package's dist/ up to date with its src/ (tsc rebuilds only what changed). */
export async function buildPackages(): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  await run(process.execPath, [tsc, '-b'], { cwd: REPO_ROOT, timeout: BUILD_TIMEOUT_MS, maxBuffer: OUTPUT_LIMIT_BYTES });
}

/**
 * `npm pack` of every workspace into destDir. The caller builds first (buildPackages): the
 * packages' own `prepack` builds too, for a hand-run `npm pack`, but five tsc runs are slow.
 */
export async function packWorkspaces(destDir: string): Promise<PackedPackage[]> {
  const { stdout } = await run('npm', ['pack', '--workspaces', '--ignore-scripts', '--json', '--pack-destination', destDir], {
    cwd: REPO_ROOT,
    timeout: PACK_TIMEOUT_MS,
    maxBuffer: OUTPUT_LIMIT_BYTES,
    env: plainNodeEnv(process.env),
  });
  const reports = JSON.parse(stdout) as { name: string; version: string; filename: string; files: PackedFile[] }[];
  const dirs = workspaceDirs();
  return reports.map((r) => {
    const dir = dirs.get(r.name);
    if (dir === undefined) throw new Error(`npm pack produced ${r.name}, which is no workspace of ${REPO_ROOT}`);
    return { name: r.name, version: r.version, tarball: join(destDir, r.filename), dir, files: r.files, manifest: readManifest(dir) };
  });
}

/**
 * A fresh application in appDir (an ESM package.json) that `npm install`s the tarballs and any
 * extra registry specs, as a user would: the tarballs' dependencies come from the registry
 * (npm's cache first). Runs under plainNodeEnv.
 */
export async function installApp(appDir: string, packed: readonly PackedPackage[], extra: readonly string[] = []): Promise<void> {
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ name: 'conclave-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...packed.map((p) => p.tarball), ...extra], {
    cwd: appDir,
    env: plainNodeEnv(process.env),
    timeout: INSTALL_TIMEOUT_MS,
    maxBuffer: OUTPUT_LIMIT_BYTES,
  });
}

/** The version of a package installed in the repository (node_modules at the root). */
export function repoVersion(pkg: string): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Every workspace package by name, with its folder. */
export function workspaceDirs(): Map<string, string> {
  const root = readManifest(REPO_ROOT);
  const dirs = new Map<string, string>();
  for (const ws of root.workspaces ?? []) {
    const dir = join(REPO_ROOT, ws);
    dirs.set(readManifest(dir).name, dir);
  }
  return dirs;
}

/**
 * What is wrong with the tarballs, one line each (empty: ready to publish): a missing export
 * target, .js without its .d.ts or source map, src/ or test files, a missing README or LICENSE,
 * missing metadata, an internal dependency whose version is not the one packed beside it.
 */
export function checkPacked(packed: readonly PackedPackage[]): string[] {
  const problems: string[] = [];
  const versions = new Map(packed.map((p) => [p.name, p.version]));
  const repoUrl = readManifest(REPO_ROOT).repository?.url;
  const rootLicense = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
  for (const p of packed) {
    const say = (what: string) => problems.push(`${p.name}: ${what}`);
    const paths = new Set(p.files.map((f) => f.path));
    const m = p.manifest;

    for (const f of paths) {
      if (/^(src|test)\//.test(f) || /(^|\/)(test|fixtures)\//.test(f)) say(`ships ${f} (no src/ or test files in a package)`);
      else if (/\.(ts|mts|cts)$/.test(f) && !/\.d\.(ts|mts|cts)$/.test(f)) say(`ships TypeScript source ${f}`);
      else if (/\.test\.[cm]?js$/.test(f) || f.endsWith('.tsbuildinfo')) say(`ships ${f}`);
      if (f.startsWith('dist/') && f.endsWith('.js')) {
        const base = f.slice(0, -'.js'.length);
        if (!paths.has(`${base}.d.ts`)) say(`${f} has no ${base}.d.ts`);
        if (!paths.has(`${f}.map`)) say(`${f} has no source map`);
      }
    }
    for (const f of ['package.json', 'README.md', 'LICENSE']) if (!paths.has(f)) say(`no ${f}`);
    if (paths.has('LICENSE') && readFileSync(join(p.dir, 'LICENSE'), 'utf8') !== rootLicense) say('LICENSE differs from the repository\'s');

    if (!m.version) say('no version');
    if (!m.description) say('no description');
    if (m.license !== 'MIT') say(`license is ${String(m.license)}, not MIT (the LICENSE file)`);
    if (!m.keywords?.length) say('no keywords');
    if (!m.engines?.node) say('no engines.node');
    if (m.sideEffects === undefined) say('no sideEffects');
    if (!m.repository?.url || m.repository.url !== repoUrl) say(`repository.url is ${String(m.repository?.url)}, not the root's ${String(repoUrl)}`);
    if (!m.repository?.directory || join(REPO_ROOT, m.repository.directory) !== join(p.dir)) say(`repository.directory ${String(m.repository?.directory)} is not its folder`);

    if (!m.exports || Object.keys(m.exports).length === 0) say('no exports');
    for (const [subpath, target] of Object.entries(m.exports ?? {})) {
      const conditions = typeof target === 'string' ? { default: target } : target;
      if (typeof target !== 'string' && (!conditions.types || !conditions.default)) say(`export ${subpath} lacks types or default`);
      for (const [condition, file] of Object.entries(conditions)) {
        const rel = file.replace(/^\.\//, '');
        if (condition === SOURCE_CONDITION) {
          if (!rel.startsWith('src/')) say(`export ${subpath}: the ${SOURCE_CONDITION} condition must point into src/, not ${file}`);
        } else if (!paths.has(rel)) say(`export ${subpath} (${condition}) points at ${file}, which is not in the package`);
        if (condition === 'types' && !rel.endsWith('.d.ts')) say(`export ${subpath}: types is ${file}, not a .d.ts`);
      }
    }
    for (const [bin, file] of Object.entries(m.bin ?? {})) {
      const rel = file.replace(/^\.\//, '');
      if (!paths.has(rel)) say(`bin ${bin} (${file}) is not in the package`);
      else if (!readFileSync(join(p.dir, rel), 'utf8').startsWith('#!/usr/bin/env node\n')) say(`bin ${bin} (${file}) has no node shebang`);
    }
    for (const problem of undeclaredImports(p)) say(problem);
    for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
      const packedVersion = versions.get(dep);
      if (packedVersion !== undefined && range !== packedVersion) say(`depends on ${dep}@${range}, but ${dep}@${packedVersion} is packed beside it`);
      if (packedVersion === undefined && workspaceDirs().has(dep)) say(`depends on workspace ${dep}, which was not packed`);
    }
  }
  return problems;
}

/**
 * Imports in the shipped .js and .d.ts files that an installed package could not resolve: a
 * package missing from `dependencies` (present in the repository only as a devDependency of
 * the root), or, in a .d.ts, a dependency without types of its own and no @types package.
 */
function undeclaredImports(p: PackedPackage): string[] {
  const deps = new Set(Object.keys(p.manifest.dependencies ?? {}));
  const problems = new Set<string>();
  for (const { path } of p.files) {
    const isDts = path.endsWith('.d.ts');
    if (!isDts && !/\.m?js$/.test(path)) continue;
    const text = readFileSync(join(p.dir, path), 'utf8');
    // Static imports and re-exports (tsc prints each on one line), side-effect imports, import().
    for (const m of text.matchAll(/^(?:import|export)\b[^\n;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const specifier = (m[1] ?? m[2] ?? m[3])!;
      if (specifier.startsWith('.') || specifier.startsWith('node:') || isBuiltin(specifier)) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (name === p.name) continue;
      if (!deps.has(name)) problems.add(`${path} imports ${name}, which is not in dependencies`);
      else if (isDts && !hasOwnTypes(name) && !deps.has(`@types/${name.replace(/^@([^/]+)\/(.+)$/, '$1__$2')}`)) {
        problems.add(`${path} uses the types of ${name}, which ships none: @types/${name} belongs in dependencies`);
      }
    }
  }
  return [...problems];
}

/** Whether the installed package (as the repository has it) declares its own types. */
function hasOwnTypes(name: string): boolean {
  const dirs = workspaceDirs();
  const dir = dirs.get(name) ?? join(REPO_ROOT, 'node_modules', name);
  const m = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { types?: string; typings?: string; exports?: unknown };
  return Boolean(m.types ?? m.typings) || JSON.stringify(m.exports ?? null).includes('"types"') || existsSync(join(dir, 'index.d.ts'));
}

/** The environment of a plain Node application: no NODE_OPTIONS (so no loader, no source condition). */
export function plainNodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _dropped, ...rest } = env;
  return rest;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}
