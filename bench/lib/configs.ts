// The configurations the commit-ack benchmark runs, and the shape of its results.
import type { Floor } from './floor.js';
import type { LoadResult } from './load.js';

export const CONFIG_IDS = ['conclave3', 'conclave5', 'follower3', 'override5', 'etcd3'] as const;
export type ConfigId = (typeof CONFIG_IDS)[number];

export interface ConfigInfo {
  readonly id: ConfigId;
  readonly label: string;
  /** For the chart's legend. */
  readonly color: string;
}

export const CONFIGS: Record<ConfigId, ConfigInfo> = {
  conclave3: { id: 'conclave3', label: 'conclave, 3 nodes, embedded in the leader', color: '#1f77b4' },
  conclave5: { id: 'conclave5', label: 'conclave, 5 nodes, embedded in the leader', color: '#2ca02c' },
  follower3: { id: 'follower3', label: 'conclave, 3 nodes, client on a follower', color: '#9467bd' },
  override5: { id: 'override5', label: 'conclave, 5 nodes, 3 down, override 2', color: '#ff7f0e' },
  etcd3: { id: 'etcd3', label: 'etcd, 3 members, etcd3 client', color: '#d62728' },
};

export interface Cell extends LoadResult {
  readonly config: ConfigId;
}

export interface TargetCheck {
  readonly name: string;
  readonly sizeBytes: number;
  /** measured / limit; null when a side is missing (etcd absent). */
  readonly ratio: number | null;
  readonly limit: string;
  readonly met: boolean | null;
  readonly detail: string;
}

export interface BenchResults {
  readonly at: string;
  readonly quick: boolean;
  readonly machine: { readonly cpus: number; readonly node: string; readonly disk: string };
  readonly floor: Floor;
  readonly etcd: { readonly ran: boolean; readonly version: string | null; readonly note: string | null };
  readonly cells: readonly Cell[];
  readonly targets: readonly TargetCheck[];
  readonly durationS: number;
}

export function findCell(cells: readonly Cell[], config: ConfigId, sizeBytes: number, inflight: number): Cell | undefined {
  return cells.find((c) => c.config === config && c.sizeBytes === sizeBytes && c.inflight === inflight);
}

export function sizeLabel(sizeBytes: number): string {
  return sizeBytes % 1024 === 0 ? `${sizeBytes / 1024} KiB` : `${sizeBytes} B`;
}
