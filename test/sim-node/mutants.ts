// Known driver defects, re-introduced on demand (issue 13, "proof that it finds bugs"). Each
// is a patch applied at run time to the production classes (or, for the clock, a different
// seam), undone by the function it returns. A patch whose target is gone throws: a split
// that moves the code must move the mutant with it, never silently test nothing.
import { ReadGate } from '../../packages/conclave/src/read-gate.js';
import { LogWriter } from '../../packages/conclave/src/log-writer.js';
import { ReadyLoop } from '../../packages/conclave/src/ready-loop.js';
import { SnapshotReceiver } from '../../packages/conclave/src/snapshot-receiver.js';
import { WriteTracker } from '../../packages/conclave/src/write-tracker.js';

export const MUTANTS = ['snapshot-race', 'index-keyed-writes', 'replaced-write-resolves', 'all-at-apply', 'ack-before-durable', 'durable-at-issue', 'wall-clock-lease', 'at-least-ignored'] as const;
export type Mutant = (typeof MUTANTS)[number];


type Proto = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a patched method's receiver and arguments are the production class's own
type Fn = (this: any, ...args: any[]) => unknown;

function method(proto: Proto, name: string): Fn {
  const f = proto[name];
  if (typeof f !== 'function') throw new Error(`mutant target ${name} is gone: move the mutant with the code`);
  return f as Fn;
}

function patch(proto: Proto, name: string, make: (orig: Fn) => Fn): () => void {
  const orig = method(proto, name);
  proto[name] = make(orig);
  return () => {
    proto[name] = orig;
  };
}

interface PendingWriteView {
  term: number;
  index: number;
  policy: string;
  applied: boolean;
  outcome: unknown;
}
type TrackerView = { byIndex: Map<number, Map<number, PendingWriteView>>; settle(w: PendingWriteView, err: Error | null): void };
type EntryView = { index: number; term: number };

/**
 * Applies a mutant; returns its undo. The clock mutant is not a patch: the cluster gives
 * such a node a clock whose monotonic time is its wall time (SimNodeCluster, mutants).
 */
export function applyMutant(m: Mutant): () => void {
  const tracker = WriteTracker.prototype as unknown as Proto;
  switch (m) {
    // Issue 11 item 6: log.restore moves the commit index at once, so the driver took the
    // snapshot it had just handed the core for one passed over and aborted its install; the
    // next Ready, carrying that snapshot, found none staged and stopped the node.
    case 'snapshot-race':
      return patch(SnapshotReceiver.prototype as unknown as Proto, 'afterStep', () =>
        async function (this: { storage: { stagedInstall: { key: number; meta: { index: number; term: number } } | null; abortInstall(key: number): Promise<void> } }, meta: { index: number; term: number }) {
          const s = this.storage.stagedInstall;
          if (s && s.meta.index === meta.index && s.meta.term === meta.term) await this.storage.abortInstall(s.key);
        },
      );
    // Issue 11 item 8: pending writes keyed by index alone. A write proposed at an index where
    // an older one still waits (truncated by another leader, this node leading again) takes
    // its place: the older promise never settles.
    case 'index-keyed-writes':
      return patch(tracker, 'track', (orig) =>
        function (this: TrackerView & { count: number }, term: number, index: number, ...rest: unknown[]) {
          const atIndex = this.byIndex.get(index);
          if (atIndex) {
            this.count -= atIndex.size;
            this.byIndex.delete(index);
          }
          return orig.call(this, term, index, ...rest);
        },
      );
    // The same defect seen from the apply: another leader's entry applied at the index
    // resolves the write as if it were its own.
    case 'replaced-write-resolves':
      return patch(tracker, 'onApplied', (orig) =>
        function (this: TrackerView, entries: readonly EntryView[], results: readonly unknown[]) {
          for (const e of entries) {
            for (const w of [...(this.byIndex.get(e.index)?.values() ?? [])]) {
              if (w.term !== e.term) this.settle(w, null);
            }
          }
          return orig.call(this, entries, results);
        },
      );
    // replicaAck 'all' settles at the leader's apply, before every electable member has it.
    case 'all-at-apply':
      return patch(tracker, 'onApplied', (orig) =>
        function (this: TrackerView, entries: readonly EntryView[], results: readonly unknown[]) {
          const r = orig.call(this, entries, results);
          for (const e of entries) {
            for (const w of [...(this.byIndex.get(e.index)?.values() ?? [])]) if (w.policy === 'all' && w.term === e.term) this.settle(w, null);
          }
          return r;
        },
      );
    // A follower answers an append (and a voter a vote) before its write is durable.
    case 'ack-before-durable': {
      const node = ReadyLoop.prototype as unknown as Proto;
      const early = new WeakSet<object>();
      const undoSend = patch(node, 'sendMessage', (orig) =>
        function (this: unknown, msg: object) {
          if (early.has(msg)) return;
          return orig.call(this, msg);
        },
      );
      const undoReady = patch(node, 'handleReady', (orig) =>
        function (this: { sendMessage(m: object): void }, rd: { messagesAfterPersist: readonly object[] }) {
          for (const msg of rd.messagesAfterPersist) {
            this.sendMessage(msg);
            early.add(msg);
          }
          return orig.call(this, rd);
        },
      );
      return () => {
        undoReady();
        undoSend();
      };
    }
    // Issue 15: the asynchronous log writer reports a write durable when it hands it to
    // storage: the leader counts its own copy toward commit, and followers ack, too early.
    case 'durable-at-issue':
      return patch(LogWriter.prototype as unknown as Proto, 'issue', () =>
        function (this: { queue: unknown[]; queuedBytesValue: number; onDurable(rds: unknown[]): void; write(w: unknown): Promise<void>; onError(e: unknown): void }) {
          const batch = this.queue;
          this.queue = [];
          this.queuedBytesValue = 0;
          this.onDurable(batch);
          for (const rd of batch as { entries: unknown[]; hardState: unknown }[]) if (rd.entries.length > 0 || rd.hardState) this.write({ entries: rd.entries, hardState: rd.hardState }).catch((e) => this.onError(e));
        },
      );
    case 'wall-clock-lease':
      return () => {};
    // Not a known defect: checks that the weak reads' check is not vacuous. A read with
    // { atLeast: token } is served at once, like 'none', without waiting for the token's index.
    case 'at-least-ignored':
      return patch(ReadGate.prototype as unknown as Proto, 'readBarrier', (orig) =>
        function (this: unknown, c: unknown, timeoutMs: number) {
          if (typeof c === 'object' && c !== null && 'atLeast' in c) return Promise.resolve();
          return orig.call(this, c, timeoutMs);
        },
      );
  }
}
