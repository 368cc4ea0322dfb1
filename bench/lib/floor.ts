// The machine's floor for one durable replicated write, measured in the same run: one
// fdatasync on the data disk (the leader's or a follower's log write) plus one WebSocket
// round trip between two processes (the append and its acknowledgement). No replication
// protocol can commit a durable write faster than that.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ChildRpc } from './ipc.js';
import { latencyHistogram, nowUs, summarize, type LatencySummaryUs } from './latency.js';

export interface Floor {
  readonly fdatasync: LatencySummaryUs;
  readonly wsRoundTrip: LatencySummaryUs;
  /** fdatasync p50 + round trip p50. */
  readonly p50Us: number;
}

/** Bytes appended before each fdatasync: about one small log record. */
const RECORD_BYTES = 256;
const ROUND_TRIP_BYTES = 100;

export function measureFdatasync(dir: string, samples: number): LatencySummaryUs {
  const path = join(dir, 'floor-fdatasync.log');
  const fd = openSync(path, 'a');
  const record = Buffer.alloc(RECORD_BYTES, 0x61);
  const h = latencyHistogram();
  try {
    for (let i = 0; i < samples + 50; i++) {
      const t0 = nowUs();
      writeSync(fd, record);
      fdatasyncSync(fd);
      if (i >= 50) h.recordValue(Math.max(1, nowUs() - t0));
    }
    return summarize(h);
  } finally {
    h.destroy();
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

export async function measureWsRoundTrip(samples: number): Promise<LatencySummaryUs> {
  const echo = new ChildRpc(new URL('./ws-echo-process.ts', import.meta.url), [], { label: 'ws-echo' });
  const h = latencyHistogram();
  try {
    const port = await echo.call<number>('port', null, 20_000);
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const payload = Buffer.alloc(ROUND_TRIP_BYTES, 0x62);
    for (let i = 0; i < samples + 200; i++) {
      const t0 = nowUs();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('ws echo did not answer within 5 s')), 5000);
        ws.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.send(payload);
      });
      if (i >= 200) h.recordValue(Math.max(1, nowUs() - t0));
    }
    ws.close();
    return summarize(h);
  } finally {
    h.destroy();
    await echo.stop();
  }
}

export async function measureFloor(dir: string, samples: { fdatasync: number; roundTrip: number }): Promise<Floor> {
  const fdatasync = measureFdatasync(dir, samples.fdatasync);
  const wsRoundTrip = await measureWsRoundTrip(samples.roundTrip);
  return { fdatasync, wsRoundTrip, p50Us: fdatasync.p50Us + wsRoundTrip.p50Us };
}
