// `conclave put|get|del`: key-value operations through any member.
import type { Command } from 'commander';
import type { Consistency } from 'conclave';
import { InvalidArgumentError } from '@conclave/core';
import { EXIT } from './exit-codes.js';
import { clientOptions, openClient, type CommonFlags } from './common.js';

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
