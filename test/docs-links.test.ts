// The documentation links only to files inside the repository (issue 22, item 7): every
// relative link in the README, docs/ and the package READMEs names a file that exists, and
// every #anchor names a heading of its target.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ...readdirSync(join(ROOT, 'packages')).map((p) => `packages/${p}/README.md`).filter((f) => existsSync(join(ROOT, f))),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

test('every relative link in the documentation resolves inside the repository', (t) => {
  let checked = 0;
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const href = m[1]!;
      if (/^[a-z]+:/i.test(href)) continue; // https:, mailto:
      const [path, hash] = href.split('#') as [string, string | undefined];
      const target = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), path);
      checked++;
      if (relative(ROOT, target).startsWith('..')) broken.push(`${doc}: ${href} leaves the repository`);
      else if (!existsSync(target)) broken.push(`${doc}: ${href} does not exist`);
      else if (hash && target.endsWith('.md') && !anchors(target).has(hash)) broken.push(`${doc}: ${href} names no heading of ${relative(ROOT, target)}`);
    }
  }
  t.deepEqual(broken, []);
  t.true(checked >= 10, `only ${checked} links checked`);
});

test('the anchor rule matches the headings the docs link to', (t) => {
  t.is(anchor('When a majority is lost: the override'), 'when-a-majority-is-lost-the-override');
  t.is(anchor('Disks: damage, power cuts and errors'), 'disks-damage-power-cuts-and-errors');
  t.is(anchor('`conclave` and its `--json`'), 'conclave-and-its---json');
});
