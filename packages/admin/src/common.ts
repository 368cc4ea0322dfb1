// Options every client command takes: --endpoint (repeatable), --secret-file, --timeout, --json.
import { Option, type Command } from 'commander';
import { parseAddress } from '@conclave/core';
import type { AdminClient, AdminClientOptions } from './client.js';
import { parseIntArg, parseMemberId, readSecretFile } from './parse.js';

export interface CommonFlags {
  endpoint?: string[];
  secretFile?: string;
  timeout: string;
  json?: boolean;
}

export const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function withCommonOptions(c: Command): Command {
  return c
    .addOption(new Option('--endpoint <host:port>', `a member to talk to (repeatable; default: $${ENDPOINTS_ENV}, comma-separated, else ${DEFAULT_ENDPOINT})`).argParser(collect))
    .option('--secret-file <file>', 'file holding the admin secret')
    .option('--timeout <ms>', 'deadline of each request', '5000')
    .option('--json', 'machine-readable output');
}

/** The group `npm start` (conclave cluster up) runs: its first node. */
export const DEFAULT_ENDPOINT = '127.0.0.1:7001';
/** Comma-separated HOST:PORT list, as etcdctl's ETCDCTL_ENDPOINTS. */
export const ENDPOINTS_ENV = 'CONCLAVE_ENDPOINTS';

/** --endpoint when given, else $CONCLAVE_ENDPOINTS, else 127.0.0.1:7001. */
export function resolveEndpoints(given: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (given && given.length > 0) return [...given];
  const raw = env[ENDPOINTS_ENV];
  if (raw === undefined || raw.trim() === '') return [DEFAULT_ENDPOINT];
  const list = raw.split(',').map((e) => e.trim());
  for (const e of list) parseAddress(e, `${ENDPOINTS_ENV} entry`);
  return list;
}

export function clientOptions(f: CommonFlags): AdminClientOptions {
  return {
    endpoints: resolveEndpoints(f.endpoint),
    timeoutMs: parseIntArg('--timeout', f.timeout, 1, 600_000),
    ...(f.secretFile ? { secret: readSecretFile(f.secretFile, '--secret-file') } : {}),
  };
}

/** `--node ID`, repeatable: the members an action is for (default: every member that answers). */
export function withNodeOption(c: Command, what: string): Command {
  return c.option('--node <id>', `${what} (repeatable; default: every member that answers)`, collect);
}

export function parseNodes(nodes: string[] | undefined): string[] | undefined {
  return nodes?.map((n) => parseMemberId(n, '--node'));
}

/**
 * An AdminClient, loaded on first use: the client and its transport are not needed for
 * --help or a usage error, and loading them is most of the CLI's start time.
 */
export async function openClient(opts: AdminClientOptions): Promise<AdminClient> {
  const { AdminClient } = await import('./client.js');
  return new AdminClient(opts);
}

/** Runs `fn` with a client for the command's flags, closing it whatever happens. */
export async function withClient<T>(f: CommonFlags, fn: (client: AdminClient) => Promise<T>): Promise<T> {
  const client = await openClient(clientOptions(f));
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Prints the object as one line of JSON with --json, else the text for people; sets the exit code. */
export function emit(f: CommonFlags, json: unknown, text: () => string, exitCode = 0): void {
  console.log(f.json ? JSON.stringify(json) : text());
  if (exitCode !== 0) process.exitCode = exitCode;
}
