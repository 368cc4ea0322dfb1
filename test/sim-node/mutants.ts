// Known driver defects, re-introduced on demand (issue 13, "proof that it finds bugs"). Each
// is a patch applied at run time to the production classes (or, for the clock, a different
// seam), undone by the function it returns. A patch whose target is gone throws: a split
// that moves the code must move the mutant with it, never silently test nothing.
import { ConclaveNode } from 'conclave';
import { WriteTracker } from '../../packages/conclave/src/write-tracker.js';

export const MUTANTS = ['index-keyed-writes', 'all-at-apply', 'ack-before-durable', 'wall-clock-lease'] as const;
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
    // Pending writes keyed by index alone: another leader's entry applied at the index
    // resolves the write as if it were its own.
    case 'index-keyed-writes':
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
      const node = ConclaveNode.prototype as unknown as Proto;
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
    case 'wall-clock-lease':
      return () => {};
  }
}
