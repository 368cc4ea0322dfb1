// The README's table of openNode() options (issue 22, item 8) lists every option the node
// resolves, and nothing else: an option added to the code without a line there fails here.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { resolveOptions } from '../src/options.js';

test('packages/conclave/README.md documents every openNode option, with its default', (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const documented = [...readme.matchAll(/^\| `(\w+)` \| ([^|]+) \| [^|]+ \|$/gm)].map((m) => m[1]!);
  const resolved = Object.keys(resolveOptions({ id: 'n1', dataDir: '/tmp/x', listen: '127.0.0.1:7001', peers: { n1: '127.0.0.1:7001' } }));
  t.deepEqual([...documented].sort(), [...resolved].sort());
});
