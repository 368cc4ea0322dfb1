// `conclave put|get|del|scan` against a live member (issue 22, item 6): listing keys by
// prefix or range, in pages, with --keys-only, --limit and a documented --json shape; bad
// ranges are usage errors.
import test from 'ava';
import { prefixEnd, prefixRange } from '../../packages/admin/src/key-range.js';
import { startGroup } from '../../packages/conclave/test/helpers.js';
import { jsonOf, runCli } from './run-cli.js';

test('prefixEnd: the smallest string after every key with the prefix, in code point order', (t) => {
  t.is(prefixEnd('flags/'), 'flags0');
  t.is(prefixEnd('a\u{10FFFF}'), 'b');
  t.is(prefixEnd('\u{10FFFF}'), null);
  t.is(prefixEnd('x\uD7FF'), 'x\uE000', 'no lone surrogate as a bound');
  t.is(prefixEnd('\u{1F600}'), '\u{1F601}');
  t.deepEqual(prefixRange(''), {});
});

test('scan lists keys by prefix or range, in pages; del removes one; --json shapes', async (t) => {
  t.timeout(240_000);
  const g = await startGroup(1);
  t.teardown(() => g.close());
  const n = await g.waitForLeader(30_000);
  const endpoint = ['--endpoint', n.status().address];
  await n.batch([
    { op: 'put', key: 'flags/a', value: 'on' },
    { op: 'put', key: 'flags/b', value: { rollout: 0.5 } },
    { op: 'put', key: 'flags/c', value: 3 },
    { op: 'put', key: 'flagsX', value: 'not under flags/' },
    { op: 'put', key: 'other/x', value: 'x' },
  ]);
  await n.batch(Array.from({ length: 2500 }, (_, i) => ({ op: 'put' as const, key: `many/${String(i).padStart(5, '0')}`, value: i })));

  const [plain, keys, json, range, limited, paged, all] = await Promise.all([
    runCli(['scan', 'flags/', ...endpoint]),
    runCli(['scan', 'flags/', '--keys-only', ...endpoint]),
    runCli(['scan', 'flags/', '--json', ...endpoint]),
    runCli(['scan', '--gte', 'flags/b', '--lt', 'g', '--keys-only', ...endpoint]),
    runCli(['scan', 'flags/', '--limit', '2', ...endpoint]),
    runCli(['scan', 'many/', '--limit', '2100', '--keys-only', '--json', ...endpoint]),
    runCli(['scan', 'many/', '--limit', '5000', '--keys-only', '--json', '--consistency', 'none', ...endpoint]),
  ]);
  for (const r of [plain, keys, json, range, limited, paged, all]) t.is(r.code, 0, `${r.args.join(' ')}: ${r.stderr}`);
  t.is(plain.stdout, 'flags/a\ton\nflags/b\t{"rollout":0.5}\nflags/c\t3\n');
  t.is(keys.stdout, 'flags/a\nflags/b\nflags/c\n');
  t.deepEqual(jsonOf(json), { ok: true, count: 3, more: false, pairs: [{ key: 'flags/a', value: 'on' }, { key: 'flags/b', value: { rollout: 0.5 } }, { key: 'flags/c', value: 3 }] });
  t.is(range.stdout, 'flags/b\nflags/c\nflagsX\n');
  t.is(limited.stdout, 'flags/a\ton\nflags/b\t{"rollout":0.5}\n');
  t.regex(limited.stderr, /more keys follow/);
  const p = jsonOf<{ count: number; more: boolean; keys: string[] }>(paged);
  t.is(p.count, 2100);
  t.true(p.more);
  t.deepEqual(p.keys.slice(998, 1002), ['many/00998', 'many/00999', 'many/01000', 'many/01001'], 'pages join without a gap or a repeat');
  t.is(new Set(p.keys).size, 2100);
  const a = jsonOf<{ count: number; more: boolean; keys: string[] }>(all);
  t.is(a.count, 2500);
  t.false(a.more);
  t.is(a.keys.at(-1), 'many/02499');

  const del = await runCli(['del', 'flags/b', '--json', ...endpoint]);
  t.is(del.code, 0, del.stderr);
  t.like(jsonOf(del), { ok: true, key: 'flags/b' });
  const after = await runCli(['scan', 'flags/', '--keys-only', ...endpoint]);
  t.is(after.stdout, 'flags/a\nflags/c\n');
  const empty = await runCli(['scan', 'nothing/', '--json', ...endpoint]);
  t.is(empty.code, 0);
  t.deepEqual(jsonOf(empty), { ok: true, count: 0, more: false, pairs: [] });
});

test('scan: a prefix with range flags, two lower bounds, or a bad limit are usage errors', async (t) => {
  const endpoint = ['--endpoint', '127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['scan', 'flags/', '--gte', 'a', ...endpoint], /give PREFIX or --gte, not both/],
    [['scan', '--gte', 'a', '--gt', 'b', ...endpoint], /give --gte or --gt, not both/],
    [['scan', '--lte', 'a', '--lt', 'b', ...endpoint], /give --lte or --lt, not both/],
    [['scan', 'x', '--limit', '0', ...endpoint], /--limit must be a positive integer, got '0'/],
    [['scan', 'x', '--limit', 'lots', ...endpoint], /--limit must be a positive integer/],
    [['scan', 'x', '--consistency', 'eventual', ...endpoint], /--consistency must be/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runCli(args)));
  runs.forEach((r, i) => {
    t.is(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, cases[i]![1]);
  });
});
