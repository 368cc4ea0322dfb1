// `npm run release`: build, pack every workspace as `npm publish` would, and check the
// tarballs (scripts/pack.ts: every export and bin present, a .d.ts and a source map for every
// .js, no src/ or test files, README, LICENSE, metadata, matching internal versions).
// Publishes nothing. `--keep DIR` leaves the tarballs in DIR; otherwise they are deleted.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildPackages, checkPacked, packWorkspaces } from './pack.js';

const args = process.argv.slice(2);
const keepAt = args.indexOf('--keep');
if (args.length > 0 && !(keepAt === 0 && args.length === 2)) {
  console.error('usage: npm run release [-- --keep DIR]');
  process.exit(2);
}
const keepDir = keepAt === 0 ? resolve(args[1]!) : null;
const dest = keepDir ?? mkdtempSync(join(tmpdir(), 'conclave-release-'));
mkdirSync(dest, { recursive: true });

try {
  await buildPackages();
  const packed = await packWorkspaces(dest);
  for (const p of packed) console.log(`${p.name}@${p.version}  ${p.files.length} files  ${p.tarball}`);
  const problems = checkPacked(packed);
  for (const problem of problems) console.error(`  ✗ ${problem}`);
  console.log(problems.length === 0 ? `release check: ${packed.length} packages complete (nothing published)` : `release check: ${problems.length} problems`);
  process.exitCode = problems.length === 0 ? 0 : 1;
} finally {
  if (keepDir === null) rmSync(dest, { recursive: true, force: true });
}
