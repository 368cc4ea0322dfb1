// Fixture for boot-rss.test.ts: one single-node group in its own process.
//   write DIR PORT COUNT: writes COUNT values of 512 KiB, then closes.
//   boot DIR PORT: opens the node, waits until it leads and applied its log, prints its peak RSS.
// Byte bounds come from CONCLAVE_TEST_BOUND_BYTES (snapshotIntervalBytes and bytesKeptAfterSnapshot).
import { openNode } from '../../packages/conclave/src/index.js';

const [mode, dataDir, port, count] = process.argv.slice(2);
const bound = Number(process.env.CONCLAVE_TEST_BOUND_BYTES);
const address = `127.0.0.1:${port}`;
const quiet = { info: () => {}, warn: () => {}, error: (_f: Record<string, unknown>, m?: string) => console.error(m) };
const node = await openNode({
  id: 'n1',
  dataDir: dataDir!,
  listen: address,
  peers: { n1: address },
  tickMs: 20,
  logger: quiet,
  ...(bound > 0 ? { snapshotIntervalBytes: bound, bytesKeptAfterSnapshot: bound } : {}),
});
const deadline = Date.now() + 60_000;
while (!node.isLeader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
if (!node.isLeader) throw new Error('never became leader');
if (mode === 'write') {
  const value = Buffer.alloc(512 * 1024, 7);
  const n = Number(count);
  for (let i = 0; i < n; i += 4) {
    await Promise.all([0, 1, 2, 3].filter((k) => i + k < n).map((k) => node.put(`big${i + k}`, value)));
  }
  console.log(JSON.stringify({ written: n }));
} else {
  // A read through the log: the node has applied everything it had.
  await node.put('probe', 1);
  const v = (await node.get('big0', { consistency: 'none' })) as Buffer | undefined;
  console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, big0Bytes: v?.length ?? 0 }));
}
await node.close();
