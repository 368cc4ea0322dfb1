// `conclave put|get|del|scan`: key-value operations through any member.
import type { Command } from 'commander';
import type { Consistency } from 'conclave';
import { InvalidArgumentError } from '@conclave/core';
import { EXIT } from './exit-codes.js';
import { clientOptions, openClient, type CommonFlags } from './common.js';
import { scanRange } from './key-range.js';

function parseConsistency(v: string | undefined): Consistency {
  if (v === undefined || v === 'linearizable' || v === 'lease' || v === 'none') return (v ?? 'linearizable') as Consistency;
  const m = /^max-lag=(\d+)$/.exec(v);
  if (m) return { maxLagMs: Number(m[1]) };
  throw new InvalidArgumentError(`--consistency must be linearizable, lease, none or max-lag=MS, got '${v}'`);
}

function parseValue(v: string, json: boolean): unknown {
  if (!json) return v;
  try {
    return JSON.parse(v);
  } catch {
    throw new InvalidArgumentError(`VALUE is not valid JSON (--json-value): ${v}`);
  }
}

export function registerKvCommands(program: Command, common: (c: Command) => Command): void {
  common(program.command('put <key> <value>').description('store VALUE under KEY').option('--json-value', 'parse VALUE as JSON')).action(
    async (key: string, value: string, f: CommonFlags & { jsonValue?: boolean }) => {
      const client = await openClient(clientOptions(f));
      try {
        const { token } = await client.put(key, parseValue(value, f.jsonValue === true));
        if (f.json) console.log(JSON.stringify({ ok: true, key, token }));
        else console.log(`OK (index ${token.index}, term ${token.term})`);
      } finally {
        await client.close();
      }
    },
  );
  common(program.command('get <key>').description('print the value of KEY (exit 1 if absent)').option('--consistency <c>', 'linearizable | lease | none | max-lag=MS')).action(
    async (key: string, f: CommonFlags & { consistency?: string }) => {
      const client = await openClient(clientOptions(f));
      try {
        const r = await client.get(key, parseConsistency(f.consistency));
        if (f.json) console.log(JSON.stringify({ key, found: r.found, value: r.value }));
        else if (r.found) console.log(typeof r.value === 'string' ? r.value : JSON.stringify(r.value));
        else console.error(`key '${key}' not found`);
        if (!r.found) process.exitCode = EXIT.failed;
      } finally {
        await client.close();
      }
    },
  );
  common(
    program
      .command('scan [prefix]')
      .description('list the keys starting with PREFIX (or within --gte/--gt and --lt/--lte), in key order, with their values')
      .option('--gte <key>', 'from KEY, included')
      .option('--gt <key>', 'from after KEY')
      .option('--lt <key>', 'up to KEY, excluded')
      .option('--lte <key>', 'up to KEY, included')
      .option('--limit <n>', 'at most N keys (default 1000)')
      .option('--keys-only', 'print the keys only')
      .option('--consistency <c>', 'linearizable | lease | none | max-lag=MS'),
  ).action(async (prefix: string | undefined, f: CommonFlags & { gte?: string; gt?: string; lt?: string; lte?: string; limit?: string; keysOnly?: boolean; consistency?: string }) => {
    const range = scanRange(prefix, { gte: f.gte, gt: f.gt, lt: f.lt, lte: f.lte });
    if (f.limit !== undefined && !/^[1-9]\d*$/.test(f.limit)) throw new InvalidArgumentError(`--limit must be a positive integer, got '${f.limit}'`);
    const consistency = parseConsistency(f.consistency);
    const client = await openClient(clientOptions(f));
    try {
      const { pairs, more } = await client.scan(range, { ...(f.limit !== undefined ? { limit: Number(f.limit) } : {}), consistency });
      if (f.json) {
        const items = f.keysOnly ? { keys: pairs.map(([k]) => k) } : { pairs: pairs.map(([key, value]) => ({ key, value })) };
        console.log(JSON.stringify({ ok: true, count: pairs.length, more, ...items }));
        return;
      }
      for (const [key, value] of pairs) console.log(f.keysOnly ? key : `${key}\t${typeof value === 'string' ? value : JSON.stringify(value)}`);
      if (more) console.error(`(more keys follow; --limit ${Math.max(pairs.length * 10, 1)} or --gt '${pairs[pairs.length - 1]![0]}' for the next ones)`);
    } finally {
      await client.close();
    }
  });
  common(program.command('del <key>').description('delete KEY')).action(async (key: string, f: CommonFlags) => {
    const client = await openClient(clientOptions(f));
    try {
      const { token } = await client.delete(key);
      if (f.json) console.log(JSON.stringify({ ok: true, key, token }));
      else console.log(`OK (index ${token.index}, term ${token.term})`);
    } finally {
      await client.close();
    }
  });
}
