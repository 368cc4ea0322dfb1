// The benchmark's table (ratios against the floor and against etcd) and its target checks.
import Table from 'cli-table3';
import { CONFIGS, findCell, sizeLabel, type Cell, type TargetCheck } from './configs.js';
import type { Floor } from './floor.js';

// Issue 15's targets (same run, 3 nodes, durable, etcd beside).
const SEQUENTIAL_FLOOR_RATIO_MAX = 2;
/** Sequential p50 at most this fraction of etcd's, at 100 B. */
const SEQUENTIAL_VS_ETCD_MAX = 0.5;
/** Writes/s at 256 in flight against etcd's, by value size (bytes); sizes not listed have none. */
const THROUGHPUT_VS_ETCD_MIN: Readonly<Record<number, number>> = { 100: 10, 1024: 6, 16384: 2 };
const P99_VS_ETCD_MAX = 1 / 3;
/** A client on a follower, 100 B at 256 in flight, against etcd. */
const FOLLOWER_VS_ETCD_MIN = 4;

const ms = (us: number): string => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const ratio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}x`);

export function targetChecks(cells: readonly Cell[], floor: Floor, sizesBytes: readonly number[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const size of sizesBytes) {
    const seq = findCell(cells, 'conclave3', size, 1);
    if (seq) {
      const r = seq.latency.p50Us / floor.p50Us;
      out.push({
        name: 'sequential 3-node commit-ack p50 vs floor',
        sizeBytes: size,
        ratio: r,
        limit: `<= ${SEQUENTIAL_FLOOR_RATIO_MAX}x`,
        met: r <= SEQUENTIAL_FLOOR_RATIO_MAX,
        detail: `${ms(seq.latency.p50Us)} ms vs floor ${ms(floor.p50Us)} ms (fdatasync ${ms(floor.fdatasync.p50Us)} + round trip ${ms(floor.wsRoundTrip.p50Us)}; fdatasync with three writers at once ${ms(floor.sharedFdatasync.p50Us)})`,
      });
    }
    const etcdSeq = findCell(cells, 'etcd3', size, 1);
    if (seq && size === 100) {
      const r = etcdSeq ? seq.latency.p50Us / etcdSeq.latency.p50Us : null;
      out.push({
        name: 'sequential 3-node commit-ack p50 vs etcd',
        sizeBytes: size,
        ratio: r,
        limit: `<= ${SEQUENTIAL_VS_ETCD_MAX}x`,
        met: r === null ? null : r <= SEQUENTIAL_VS_ETCD_MAX,
        detail: etcdSeq ? `${ms(seq.latency.p50Us)} vs ${ms(etcdSeq.latency.p50Us)} ms` : 'etcd not run',
      });
    }
    const ours256 = findCell(cells, 'conclave3', size, 256);
    const etcd256 = findCell(cells, 'etcd3', size, 256);
    const min = THROUGHPUT_VS_ETCD_MIN[size];
    if (ours256 && min !== undefined) {
      const r = etcd256 ? ours256.opsPerS / etcd256.opsPerS : null;
      out.push({
        name: 'throughput at 256 in flight vs etcd',
        sizeBytes: size,
        ratio: r,
        limit: `>= ${min}x`,
        met: r === null ? null : r >= min,
        detail: etcd256 ? `${Math.round(ours256.opsPerS)} vs ${Math.round(etcd256.opsPerS)} writes/s` : 'etcd not run',
      });
    }
    const follower256 = findCell(cells, 'follower3', size, 256);
    if (follower256 && size === 100) {
      const r = etcd256 ? follower256.opsPerS / etcd256.opsPerS : null;
      out.push({
        name: 'client on a follower, 256 in flight, vs etcd',
        sizeBytes: size,
        ratio: r,
        limit: `>= ${FOLLOWER_VS_ETCD_MIN}x`,
        met: r === null ? null : r >= FOLLOWER_VS_ETCD_MIN,
        detail: etcd256 ? `${Math.round(follower256.opsPerS)} vs ${Math.round(etcd256.opsPerS)} writes/s` : 'etcd not run',
      });
    }
    const ours64 = findCell(cells, 'conclave3', size, 64);
    const etcd64 = findCell(cells, 'etcd3', size, 64);
    if (ours64) {
      const r = etcd64 ? ours64.latency.p99Us / etcd64.latency.p99Us : null;
      out.push({
        name: 'p99 at 64 in flight vs etcd',
        sizeBytes: size,
        ratio: r,
        limit: '<= 0.33x',
        met: r === null ? null : r <= P99_VS_ETCD_MAX,
        detail: etcd64 ? `${ms(ours64.latency.p99Us)} vs ${ms(etcd64.latency.p99Us)} ms` : 'etcd not run',
      });
    }
  }
  return out;
}

export function resultsTable(cells: readonly Cell[], floor: Floor): string {
  const t = new Table({
    head: ['configuration', 'value', 'in flight', 'writes/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p50 / floor', 'writes/s / etcd', 'p99 / etcd', 'errors'],
    style: { head: [], border: [], compact: true },
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  });
  for (const c of cells) {
    const etcd = c.config === 'etcd3' ? undefined : findCell(cells, 'etcd3', c.sizeBytes, c.inflight);
    t.push([
      CONFIGS[c.config].label,
      sizeLabel(c.sizeBytes),
      c.inflight,
      Math.round(c.opsPerS).toLocaleString('en-US'),
      ms(c.latency.p50Us),
      ms(c.latency.p99Us),
      ms(c.latency.p999Us),
      ratio(c.latency.p50Us / floor.p50Us),
      ratio(etcd ? c.opsPerS / etcd.opsPerS : null),
      ratio(etcd ? c.latency.p99Us / etcd.latency.p99Us : null),
      c.errors,
    ]);
  }
  return t.toString();
}

export function targetsTable(targets: readonly TargetCheck[]): string {
  const t = new Table({ head: ['target', 'value', 'ratio', 'limit', 'met', 'measured'], style: { head: [], border: [], compact: true } });
  for (const x of targets) t.push([x.name, sizeLabel(x.sizeBytes), ratio(x.ratio), x.limit, x.met === null ? 'n/a' : x.met ? 'yes' : 'NO', x.detail]);
  return t.toString();
}
