// raw-db.ts calls abstract-level's private `_batch` (the implementation's, bypassing the
// public wrapper). That contract is only known to hold for the versions it was written
// against, so they are pinned in package.json and this test fails when any of them moves.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { createLevelDb, MemoryBackend, type RawDb } from '../src/raw-db.js';
import { removeDir, tempDir } from './helpers.js';

const PINNED: Record<string, string> = { 'abstract-level': '3.1.1', 'classic-level': '3.0.0', level: '10.0.0', 'memory-level': '3.1.0' };
const require = createRequire(new URL('../src/raw-db.ts', import.meta.url));

function installedVersion(name: string): string {
  // The package's own package.json, found from its entry point as raw-db.ts resolves it.
  let dir = dirname(require.resolve(name));
  for (let i = 0; i < 10; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
      if (pkg.name === name) return pkg.version;
    } catch {
      // not this directory
    }
    dir = dirname(dir);
  }
  throw new Error(`package.json of ${name} not found`);
}

test('the level packages whose private _batch raw-db.ts calls are pinned to the versions it was written against', (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  for (const [name, version] of Object.entries(PINNED)) {
    t.is(manifest.dependencies[name], version, `package.json pins ${name}`);
    t.is(installedVersion(name), version, `installed ${name}`);
  }
});

/** Counts calls of the `_batch` that `make()`'s database inherits (raw-db captures it when it wraps the database). */
function spyPrivateBatch(proto: object): { calls: () => number; restore: () => void } {
  let owner: object | null = proto;
  while (owner !== null && !Object.prototype.hasOwnProperty.call(owner, '_batch')) owner = Object.getPrototypeOf(owner) as object | null;
  if (owner === null) throw new Error('no _batch in the prototype chain');
  const target = owner as { _batch: (...args: unknown[]) => Promise<void> };
  const original = target._batch;
  let calls = 0;
  target._batch = function (this: unknown, ...args: unknown[]) {
    calls++;
    return original.apply(this, args);
  };
  return { calls: () => calls, restore: () => void (target._batch = original) };
}

async function checkPrivateBatch(t: import('ava').ExecutionContext, db: RawDb, calls: () => number, label: string): Promise<void> {
  const key = Buffer.from([0x7f, 1]);
  const before = calls();
  await db.batch([{ type: 'put', key, value: Buffer.from('v') }], { sync: true });
  t.is(calls() - before, 1, `${label}: a small batch goes through _batch`);
  t.deepEqual(await db.get(key), Buffer.from('v'), `${label}: what _batch wrote reads back`);
  await db.batch([{ type: 'del', key }], { sync: false });
  t.is(await db.get(key), undefined, `${label}: a delete through _batch`);
}

test.serial('the private batch path writes and deletes on LevelDB and memory-level', async (t) => {
  const dir = tempDir('raw-db-pin');
  const levelSpy = spyPrivateBatch(ClassicLevel.prototype);
  const level = createLevelDb(dir);
  try {
    await level.open({ createIfMissing: true });
    await checkPrivateBatch(t, level, levelSpy.calls, 'level');
  } finally {
    levelSpy.restore();
    await level.close();
    removeDir(dir);
  }
  const memorySpy = spyPrivateBatch(MemoryLevel.prototype);
  try {
    const memory = new MemoryBackend();
    await memory.db.open({ createIfMissing: true });
    await checkPrivateBatch(t, memory.db, memorySpy.calls, 'memory-level');
    await memory.db.close();
  } finally {
    memorySpy.restore();
  }
});
