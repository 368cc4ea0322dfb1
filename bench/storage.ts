// Storage benchmark: durable one-entry append latency against the disk's own write +
// fdatasync floor, and durable append throughput for batches of 1, 16 and 256 entries.
//
//   flock /tmp/conclave-bench.lock npm run bench -- storage [--quick]
//
// The flock keeps two benchmarks from running at once on this 2-core machine. Raw and
// storage latency samples are taken in alternating rounds so that drift in the disk's
// speed (others' I/O, writeback) lands on both sides alike.
import { closeSync, fdatasync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import type { Entry, HardState } from '@conclave/core';
import { encodeEntry, NodeStorage } from '@conclave/storage';
import { suiteFlags } from './lib/args.js';
import { benchDir } from './lib/disk.js';

const flags = suiteFlags('usage: npm run bench -- storage [--quick]');
const quick = flags.has('--quick');
flags.done();
const LATENCY_ROUNDS = quick ? 2 : 6;
const LATENCY_SAMPLES_PER_ROUND = quick ? 200 : 500;
const WARMUP_SAMPLES = 200;
const THROUGHPUT_DURATION_MS = quick ? 1000 : 3000;
const THROUGHPUT_MAX_BATCHES = 1_000_000;
const ENTRY_DATA_BYTES = 100;
const LATENCY_TARGET_RATIO = 1.3;
const THROUGHPUT_TARGET_ENTRIES_PER_S = 200_000;

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

const data = Buffer.alloc(ENTRY_DATA_BYTES, 0x61);
let term = 1;
let lastIndex = 0;

function entry(index: number): Entry {
  return { index, term, type: 'normal', data };
}

function hardState(commit: number): HardState {
  return { term, vote: 'n1', commit };
}

const nowUs = (): number => Number(process.hrtime.bigint()) / 1000;

async function main(): Promise<void> {
  const { dir, where } = benchDir('conclave-bench-storage-');
  console.log(`storage benchmark: data directory ${dir}`);
  console.log(`disk: ${where}; node ${process.version}; ${quick ? 'quick run' : 'full run'}`);
  const storage = await NodeStorage.open({ path: join(dir, 'db'), groupId: 'bench', syncPolicy: 'sync' });
  const rawPath = join(dir, 'raw.log');
  const fd = openSync(rawPath, 'a');
  try {
    // The raw figure writes as many bytes as LevelDB's log record for the same batch:
    // record header (7) + batch header (12) + per op tag, two length varints, key and value.
    const rawBytes = 7 + 12 + (1 + 1 + 9 + 2 + encodeEntry(entry(1)).length) + (1 + 1 + 10 + 1 + 14);
    const rawBuffer = Buffer.alloc(rawBytes, 0x62);
    const rawWrite = (): void => {
      writeSync(fd, rawBuffer);
      fdatasyncSync(fd);
    };
    // The same write with the fdatasync on the libuv pool: the floor of any storage whose
    // writes run off the main thread, as classic-level's do (one hop there and back).
    const rawWriteOffThread = (): Promise<void> => {
      writeSync(fd, rawBuffer);
      return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    };
    const appendOne = async (): Promise<void> => {
      const index = ++lastIndex;
      await storage.writeReady({ hardState: hardState(index), entries: [entry(index)] });
    };

    for (let k = 0; k < WARMUP_SAMPLES; k++) {
      rawWrite();
      await appendOne();
    }
    const raw = histogram();
    const rawOffThread = histogram();
    const ours = histogram();
    for (let round = 0; round < LATENCY_ROUNDS; round++) {
      for (let k = 0; k < LATENCY_SAMPLES_PER_ROUND; k++) {
        const t0 = nowUs();
        rawWrite();
        raw.recordValue(Math.max(1, Math.round(nowUs() - t0)));
      }
      for (let k = 0; k < LATENCY_SAMPLES_PER_ROUND; k++) {
        const t0 = nowUs();
        await rawWriteOffThread();
        rawOffThread.recordValue(Math.max(1, Math.round(nowUs() - t0)));
      }
      for (let k = 0; k < LATENCY_SAMPLES_PER_ROUND; k++) {
        const t0 = nowUs();
        await appendOne();
        ours.recordValue(Math.max(1, Math.round(nowUs() - t0)));
      }
    }

    const throughput: { batch: number; entriesPerS: number; batchesPerS: number; p50Us: number }[] = [];
    for (const batch of [1, 16, 256]) {
      const h = histogram();
      let entries = 0;
      const start = nowUs();
      const end = start + THROUGHPUT_DURATION_MS * 1000;
      let batches = 0;
      for (; batches < THROUGHPUT_MAX_BATCHES && nowUs() < end; batches++) {
        const list: Entry[] = [];
        for (let k = 0; k < batch; k++) list.push(entry(lastIndex + 1 + k));
        const t0 = nowUs();
        await storage.writeReady({ hardState: hardState(lastIndex + batch), entries: list });
        h.recordValue(Math.max(1, Math.round(nowUs() - t0)));
        lastIndex += batch;
        entries += batch;
      }
      const seconds = (nowUs() - start) / 1e6;
      throughput.push({ batch, entriesPerS: entries / seconds, batchesPerS: batches / seconds, p50Us: h.getValueAtPercentile(50) });
      // Keep the log from growing without bound between runs, as a driver would.
      await storage.compact(storage.applied);
    }

    const p = (h: hdr.Histogram, q: number): number => h.getValueAtPercentile(q);
    const ratio50 = p(ours, 50) / p(raw, 50);
    const ratio99 = p(ours, 99) / p(raw, 99);
    console.log('');
    console.log(`durable one-entry append (${ENTRY_DATA_BYTES} B entry + hard state, sync), ${LATENCY_ROUNDS * LATENCY_SAMPLES_PER_ROUND} samples each, alternating rounds`);
    console.log('                                       p50 µs    p99 µs   p99.9 µs');
    const row = (name: string, h: hdr.Histogram): string =>
      `  ${name.padEnd(35)} ${String(p(h, 50)).padStart(8)}  ${String(p(h, 99)).padStart(8)}  ${String(p(h, 99.9)).padStart(9)}`;
    console.log(row(`raw write ${rawBytes} B + fdatasync`, raw));
    console.log(row('same, fdatasync on the libuv pool', rawOffThread));
    console.log(row('NodeStorage.writeReady', ours));
    const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
    console.log(`  ratio to raw: p50 ${ratio50.toFixed(2)}x, p99 ${ratio99.toFixed(2)}x (target <= ${LATENCY_TARGET_RATIO}x: p50 ${verdict(ratio50 <= LATENCY_TARGET_RATIO)}, p99 ${verdict(ratio99 <= LATENCY_TARGET_RATIO)})`);
    console.log(`  ratio to the off-thread floor: p50 ${(p(ours, 50) / p(rawOffThread, 50)).toFixed(2)}x, p99 ${(p(ours, 99) / p(rawOffThread, 99)).toFixed(2)}x`);
    console.log('');
    console.log(`durable append throughput (${ENTRY_DATA_BYTES} B entries, one writeReady per batch, sync), ${THROUGHPUT_DURATION_MS} ms each`);
    console.log('  batch   entries/s   batches/s   batch p50 µs');
    for (const r of throughput) {
      console.log(`  ${String(r.batch).padStart(5)}  ${Math.round(r.entriesPerS).toLocaleString('en-US').padStart(10)}  ${Math.round(r.batchesPerS).toLocaleString('en-US').padStart(10)}  ${String(r.p50Us).padStart(13)}`);
    }
    const big = throughput.find((r) => r.batch === 256)!;
    console.log(`  batches of 256: ${Math.round(big.entriesPerS).toLocaleString('en-US')} entries/s (target >= ${THROUGHPUT_TARGET_ENTRIES_PER_S.toLocaleString('en-US')}: ${verdict(big.entriesPerS >= THROUGHPUT_TARGET_ENTRIES_PER_S)})`);
  } finally {
    closeSync(fd);
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
