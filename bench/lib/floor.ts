// The machine's floor for one durable replicated write, measured in the same run: one
// fdatasync on the data disk (the leader's or a follower's log write) plus one WebSocket
// round trip between two processes (the append and its acknowledgement). No replication
// protocol can commit a durable write faster than that.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { ChildRpc } from './ipc.js';
import { latencyHistogram, nowUs, summarize, type LatencySummaryUs } from './latency.js';

export interface Floor {
  readonly fdatasync: LatencySummaryUs;
  readonly wsRoundTrip: LatencySummaryUs;
  /** fdatasync p50 + round trip p50. */
  readonly p50Us: number;
  /**
   * Not part of the floor, beside it: the same append + fdatasync from SHARED_DISK_WRITERS
   * threads at once, as the three members of a group on one disk do. It shows what sharing
   * the disk costs each member's fsync, which the one-writer floor does not.
   */
  readonly sharedFdatasync: LatencySummaryUs;
}

export const SHARED_DISK_WRITERS = 3;

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

// One writer thread: appends and fdatasyncs its own file `samples` times, posts the latencies in µs.
const WRITER_THREAD = `
const { workerData, parentPort } = require('node:worker_threads');
const { openSync, writeSync, fdatasyncSync, closeSync, rmSync } = require('node:fs');
const { path, samples, recordBytes, warmup } = workerData;
const fd = openSync(path, 'a');
const record = Buffer.alloc(recordBytes, 0x61);
const out = [];
for (let i = 0; i < samples + warmup; i++) {
  const t0 = process.hrtime.bigint();
  writeSync(fd, record);
  fdatasyncSync(fd);
  if (i >= warmup) out.push(Number(process.hrtime.bigint() - t0) / 1000);
}
closeSync(fd);
rmSync(path, { force: true });
parentPort.postMessage(out);
`;

/** Append + fdatasync from `writers` threads at once, each on its own file in `dir`. */
export async function measureSharedFdatasync(dir: string, writers: number, samplesEach: number): Promise<LatencySummaryUs> {
  const h = latencyHistogram();
  try {
    const runs = Array.from({ length: writers }, (_, i) => {
      const w = new Worker(WRITER_THREAD, { eval: true, workerData: { path: join(dir, `floor-shared-${i}.log`), samples: samplesEach, recordBytes: RECORD_BYTES, warmup: 50 } });
      return new Promise<number[]>((resolve, reject) => {
        const timer = setTimeout(() => void w.terminate().then(() => reject(new Error('a shared-disk fdatasync writer took over 120 s'))), 120_000);
        w.once('message', (lat: number[]) => {
          clearTimeout(timer);
          resolve(lat);
        });
        w.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    });
    for (const lat of await Promise.all(runs)) for (const us of lat) h.recordValue(Math.max(1, Math.round(us)));
    return summarize(h);
  } finally {
    h.destroy();
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
  const sharedFdatasync = await measureSharedFdatasync(dir, SHARED_DISK_WRITERS, samples.fdatasync);
  return { fdatasync, wsRoundTrip, p50Us: fdatasync.p50Us + wsRoundTrip.p50Us, sharedFdatasync };
}
