// Flags of the commit-ack benchmark. Every bad flag is an error that names it.
import { CONFIG_IDS, type ConfigId } from './configs.js';

export interface BenchArgs {
  readonly quick: boolean;
  readonly skipEtcd: boolean;
  readonly configs: readonly ConfigId[];
  readonly sizesBytes: readonly number[];
  readonly inflights: readonly number[];
  /** Write V8 CPU profiles of every node and client process here. */
  readonly cpuProfDir: string | null;
}

export const USAGE = `usage: npm run bench [-- [options]]   (the commit-ack benchmark; other suites: npm run bench -- <suite>)
  --quick              short runs (under 60 s in all)
  --no-etcd            skip etcd even when an etcd binary is on PATH
  --only LIST          configurations, comma-separated: ${CONFIG_IDS.join(', ')}
  --sizes LIST         value sizes in bytes, comma-separated (default 100,1024,16384)
  --inflight LIST      writes in flight, comma-separated (default 1,16,64,256)
  --cpu-prof DIR       write a V8 CPU profile of every node and client process into DIR`;

export class UsageError extends Error {}

const MAX_SIZE_BYTES = 1024 * 1024;
const MAX_INFLIGHT = 4096;

function intList(flag: string, value: string | undefined, max: number): number[] {
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a comma-separated list of integers`);
  const out = value.split(',').map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: '${s}' is not an integer from 1 to ${max}`);
    return n;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let skipEtcd = false;
  let configs: ConfigId[] = [...CONFIG_IDS];
  let sizesBytes = [100, 1024, 16384];
  let inflights = [1, 16, 64, 256];
  let cpuProfDir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--quick':
        quick = true;
        break;
      case '--no-etcd':
        skipEtcd = true;
        break;
      case '--only': {
        const v = argv[++i];
        if (v === undefined || v.startsWith('--')) throw new UsageError(`--only needs a comma-separated list of: ${CONFIG_IDS.join(', ')}`);
        configs = v.split(',').map((c) => {
          if (!(CONFIG_IDS as readonly string[]).includes(c)) throw new UsageError(`--only: unknown configuration '${c}' (known: ${CONFIG_IDS.join(', ')})`);
          return c as ConfigId;
        });
        break;
      }
      case '--sizes':
        sizesBytes = intList('--sizes', argv[++i], MAX_SIZE_BYTES);
        break;
      case '--inflight':
        inflights = intList('--inflight', argv[++i], MAX_INFLIGHT);
        break;
      case '--cpu-prof': {
        const v = argv[++i];
        if (v === undefined || v.startsWith('--')) throw new UsageError('--cpu-prof needs a directory');
        cpuProfDir = v;
        break;
      }
      default:
        throw new UsageError(`unknown option '${a}'`);
    }
  }
  return { quick, skipEtcd, configs, sizesBytes, inflights, cpuProfDir };
}

/**
 * Flags of a suite (`npm run bench -- <suite> ...`): each bad value exits 2 with the suite's
 * usage line and a message naming the flag, instead of running with NaN. `done()`, once every
 * flag was read, refuses what none of them took (a misspelt flag would otherwise be ignored).
 */
export function suiteFlags(usage: string): { has(name: string): boolean; int(name: string, def: number, min: number, max: number): number; text(name: string): string | null; done(): void } {
  const argv = process.argv.slice(2).filter((a) => a !== '--');
  const taken = new Set<number>();
  const fail = (why: string): never => {
    console.error(`${why}\n${usage}`);
    process.exit(2);
  };
  const value = (name: string): string | null => {
    const i = argv.indexOf(name);
    if (i < 0) return null;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) return fail(`${name} needs a value`);
    taken.add(i).add(i + 1);
    return v;
  };
  return {
    has: (name) => {
      const i = argv.indexOf(name);
      if (i >= 0) taken.add(i);
      return i >= 0;
    },
    int: (name, def, min, max) => {
      const v = value(name);
      if (v === null) return def;
      const n = Number(v);
      return /^\d+$/.test(v) && Number.isSafeInteger(n) && n >= min && n <= max ? n : fail(`${name}: '${v}' is not an integer from ${min} to ${max}`);
    },
    text: value,
    done: () => {
      const extra = argv.find((_, i) => !taken.has(i));
      if (extra !== undefined) fail(`unknown argument '${extra}'`);
    },
  };
}
