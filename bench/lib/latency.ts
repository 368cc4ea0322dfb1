// Latency histograms (HdrHistogram, microseconds) and the summary every result carries.
import * as hdr from 'hdr-histogram-js';

export interface LatencySummaryUs {
  readonly count: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** 1 µs to 60 s at 3 significant digits. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export function summarize(h: hdr.Histogram): LatencySummaryUs {
  return {
    count: h.totalCount,
    meanUs: Math.round(h.mean),
    p50Us: h.getValueAtPercentile(50),
    p90Us: h.getValueAtPercentile(90),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    maxUs: h.maxValue,
  };
}

/** Microseconds since an arbitrary origin, for intervals. */
export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
