// `conclave watch` (one line per change, resumed on another endpoint when a member goes away)
// and `conclave txn` (a transaction as JSON, from stdin or --file).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from '@conclave/core';
import type { TxnRequest, WatchRange } from 'conclave';
import { clientOptions, openClient, type CommonFlags } from './common.js';
import { parseIntArg } from './parse.js';

function shown(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function watchRange(prefix: string | undefined, f: { key?: string; gte?: string; lt?: string }): WatchRange {
  const given = [prefix !== undefined, f.key !== undefined, f.gte !== undefined].filter(Boolean).length;
  if (given !== 1) throw new InvalidArgumentError('give exactly one of PREFIX, --key KEY or --gte KEY [--lt KEY]');
  if (f.lt !== undefined && f.gte === undefined) throw new InvalidArgumentError('--lt goes with --gte');
  if (prefix !== undefined) return { prefix };
  if (f.key !== undefined) return { key: f.key };
  return f.lt !== undefined ? { gte: f.gte!, lt: f.lt } : { gte: f.gte! };
}

function readTxn(file: string | undefined): TxnRequest {
  let text: string;
  try {
    text = readFileSync(file ?? 0, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the transaction from ${file ?? 'stdin'}: ${(err as Error).message}`);
  }
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`the transaction in ${file ?? 'stdin'} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new InvalidArgumentError('the transaction must be a JSON object { if, then, else }');
  return req as TxnRequest;
}

export function registerWatchCommands(program: Command, common: (c: Command) => Command): void {
  common(
    program
      .command('watch [prefix]')
      .description('print every change under PREFIX (or --key, or --gte/--lt) as it is applied, one line each; resumes on another endpoint when a member goes away')
      .option('--key <key>', 'watch one key')
      .option('--gte <key>', 'from KEY, included')
      .option('--lt <key>', 'up to KEY, excluded')
      .option('--from-revision <n>', 'replay the changes from revision N first (as far as the member holds them)')
      .option('--prev-value', 'print the value before each change too'),
  ).action(async (prefix: string | undefined, f: CommonFlags & { key?: string; gte?: string; lt?: string; fromRevision?: string; prevValue?: boolean }) => {
    const range = watchRange(prefix, f);
    const from = f.fromRevision === undefined ? undefined : parseIntArg('--from-revision', f.fromRevision, 1);
    const client = await openClient(clientOptions(f));
    const w = client.watch(range, {
      ...(from !== undefined ? { fromRevision: from } : {}),
      prevValue: f.prevValue === true,
      onResume: ({ endpoint, fromRevision, cause }) => console.error(`(${cause}; watching again on ${endpoint} from revision ${fromRevision})`),
    });
    const stop = (): void => void w.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const batch of w) {
        for (const e of batch.events) {
          if (f.json) console.log(JSON.stringify(e));
          else console.log(`${e.type.toUpperCase()} ${e.key}${e.value !== undefined ? ` ${shown(e.value)}` : ''} @${e.revision}${e.prevValue !== undefined ? ` (was ${shown(e.prevValue)})` : ''}`);
        }
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await client.close();
    }
  });

  common(
    program
      .command('txn')
      .description('run a transaction { if: [...], then: [...], else: [...] } given as JSON on stdin or in --file, as one log entry')
      .option('--file <file>', 'read the transaction from FILE instead of stdin'),
  ).action(async (f: CommonFlags & { file?: string }) => {
    const req = readTxn(f.file);
    const client = await openClient(clientOptions(f));
    try {
      const r = await client.txn(req);
      if (f.json) {
        console.log(JSON.stringify({ ok: true, succeeded: r.succeeded, revision: r.revision, token: r.token, results: r.results }));
        return;
      }
      console.log(`${r.succeeded ? 'SUCCEEDED (then)' : 'FAILED (else)'} at revision ${r.revision}`);
      for (const res of r.results) {
        if (res.op === 'get') console.log(res.kv ? `${res.kv.key}\t${shown(res.kv.value)}` : '(not found)');
        else if (res.op === 'range') for (const kv of res.kvs) console.log(`${kv.key}\t${shown(kv.value)}`);
        else if (res.op === 'put') console.log('OK');
        else console.log(`deleted ${res.deleted}`);
      }
    } finally {
      await client.close();
    }
  });
}
