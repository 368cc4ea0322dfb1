// Options every client command takes: --endpoint (repeatable), --secret-file, --timeout, --json.
import { Option, type Command } from 'commander';
import type { AdminClientOptions } from './client.js';
import { parseIntArg, readSecretFile } from './parse.js';

export interface CommonFlags {
  endpoint: string[];
  secretFile?: string;
  timeout: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function withCommonOptions(c: Command): Command {
  return c
    .addOption(new Option('--endpoint <host:port>', 'a member to talk to (repeatable)').argParser(collect).makeOptionMandatory())
    .option('--secret-file <file>', 'file holding the admin secret')
    .option('--timeout <ms>', 'deadline of each request', '5000')
    .option('--json', 'machine-readable output');
}

export function clientOptions(f: CommonFlags): AdminClientOptions {
  return {
    endpoints: f.endpoint,
    timeoutMs: parseIntArg('--timeout', f.timeout, 1, 600_000),
    ...(f.secretFile ? { secret: readSecretFile(f.secretFile, '--secret-file') } : {}),
  };
}
