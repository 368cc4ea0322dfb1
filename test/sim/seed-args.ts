// The seed arguments both simulation CLIs take (npm run sim, npm run sim:node):
// [--seeds N] [--start S] [--seed S] [--nodes 3|5] [--chaos-ms MS], plus their own.
import { parseArgs } from 'node:util';

export interface SeedArgs {
  /** 3 or 5, or undefined to let each seed choose. */
  readonly nodes: number | undefined;
  readonly chaosMs: number | undefined;
  /** --seed: the one seed to replay, else undefined. */
  readonly single: number | undefined;
  readonly count: number;
  readonly start: number;
  /** Every option as given, the CLI's own included. */
  readonly values: Record<string, string | undefined>;
  readonly usage: (message: string) => never;
}

/** Parses argv; a bad argument prints `usageLine` and exits with status 2. */
export function parseSeedArgs(program: string, usageLine: string, defaultSeeds: number, extra: readonly string[] = []): SeedArgs {
  const usage = (message: string): never => {
    console.error(`${program}: ${message}`);
    console.error(`usage: ${usageLine}`);
    process.exit(2);
  };
  const names = ['seeds', 'start', 'seed', 'nodes', 'chaos-ms', ...extra];
  let values: Record<string, string | undefined> = {};
  try {
    ({ values } = parseArgs({ options: Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), strict: true }) as { values: Record<string, string | undefined> });
  } catch (err) {
    usage((err as Error).message);
  }
  const int = (name: string, dflt: number | undefined, min: number): number | undefined => {
    const v = values[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const nodes = int('nodes', undefined, 1);
  if (nodes !== undefined && nodes !== 3 && nodes !== 5) usage(`--nodes must be 3 or 5, got ${nodes}`);
  const chaosMs = int('chaos-ms', undefined, 0);
  const single = int('seed', undefined, 0);
  const count = single !== undefined ? 1 : int('seeds', defaultSeeds, 1)!;
  const start = single ?? int('start', 1, 0)!;
  return { nodes, chaosMs, single, count, start, values, usage };
}

/** An optional integer option of the CLI's own. */
export function intOption(args: SeedArgs, name: string, min: number): number | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) args.usage(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}
