// The watch checker, shared by the whole-node simulation and the nemesis. Watchers run beside
// the clients, each resuming on another member from the revision after its last batch when
// its member dies. Given their streams and the clients' history (with the revision of each
// acknowledged write), it checks that:
//   - each stream is in revision order, and gives each (revision, key) once;
//   - the watchers agree: a revision's changes are the same in every stream that covers it,
//     and a stream covering a revision has all of its changes (no gap);
//   - every acknowledged write in a stream's span is in it, with its value, exactly once;
//     a compare-and-set that did not match, or a write that surely failed, is not;
//   - a transaction's (batch's) changes came in one batch;
//   - revisions agree with real time and reads: a write acknowledged before another write
//     of the same key was invoked has the lower revision, and a read never returns a value
//     older (by revision) than a write of that key acknowledged before the read began.
import type { HistoryOp } from './register.js';

export interface WatchedEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The value's name (the clients' unique value), or null for a delete. */
  readonly value: string | null;
  readonly revision: number;
  /** Which batch of its stream it came in. */
  readonly batch: number;
}

export interface WatchStream {
  readonly name: string;
  /** The first revision the stream covers. */
  readonly from: number;
  /** The last revision covered (the last batch's revision); from - 1 when none came. */
  to: number;
  readonly events: WatchedEvent[];
  resumes: number;
  /** Why it stopped early (COMPACTED on every member), if it did. */
  stopped: string | null;
}

const sig = (e: WatchedEvent): string => `${e.type}:${e.value ?? ''}`;

export function checkWatchStreams(streams: readonly WatchStream[], ops: readonly HistoryOp[], inRange: (key: string) => boolean): string[] {
  const v: string[] = [];
  const canonical = new Map<number, Map<string, string>>();
  for (const s of streams) {
    let last = 0;
    const seen = new Set<string>();
    const batchOf = new Map<number, number>();
    for (const e of s.events) {
      if (e.revision < last) v.push(`watcher ${s.name}: revision ${e.revision} (${e.key}) after ${last}`);
      last = Math.max(last, e.revision);
      const id = `${e.revision}\u0000${e.key}`;
      if (seen.has(id)) v.push(`watcher ${s.name}: ${e.key} at revision ${e.revision} given twice`);
      seen.add(id);
      if (e.revision < s.from || e.revision > s.to) v.push(`watcher ${s.name}: revision ${e.revision} outside its span [${s.from}, ${s.to}]`);
      const b = batchOf.get(e.revision);
      if (b !== undefined && b !== e.batch) v.push(`watcher ${s.name}: the changes of revision ${e.revision} came in two batches`);
      batchOf.set(e.revision, e.batch);
      let c = canonical.get(e.revision);
      if (!c) canonical.set(e.revision, (c = new Map()));
      const prev = c.get(e.key);
      if (prev !== undefined && prev !== sig(e)) v.push(`watchers disagree on ${e.key} at revision ${e.revision}: ${prev} and ${sig(e)} (${s.name})`);
      c.set(e.key, sig(e));
    }
  }
  for (const s of streams) {
    const mine = new Map<number, Set<string>>();
    for (const e of s.events) {
      let m = mine.get(e.revision);
      if (!m) mine.set(e.revision, (m = new Set()));
      m.add(e.key);
    }
    for (const [rev, keys] of canonical) {
      if (rev < s.from || rev > s.to) continue;
      const got = mine.get(rev);
      for (const k of keys.keys()) if (!got?.has(k)) v.push(`watcher ${s.name} has a gap: ${k} at revision ${rev} missing (another watcher saw it)`);
    }
  }
  // Acknowledged writes, by revision.
  for (const o of ops) {
    if (o.revision === undefined || !inRange(o.key)) continue;
    const put = o.op.f === 'write' ? o.op.value : o.op.f === 'cas' ? (o.op.succeeded === true ? o.op.next : undefined) : undefined;
    for (const s of streams) {
      if (o.revision < s.from || o.revision > s.to) continue;
      const e = s.events.filter((x) => x.revision === o.revision && x.key === o.key);
      if (o.outcome !== 'ok') {
        if (e.length > 0 && o.outcome === 'fail') v.push(`watcher ${s.name} saw ${o.key}=${String(e[0]!.value)} at ${o.revision}, a write that surely failed`);
        continue;
      }
      if (o.op.f === 'cas' && o.op.succeeded === false) {
        if (e.length > 0) v.push(`watcher ${s.name} saw ${o.key} change at ${o.revision}, a compare-and-set that did not match`);
      } else if (put === null) {
        if (e.length > 0 && e[0]!.type !== 'delete') v.push(`watcher ${s.name}: the delete of ${o.key} at ${o.revision} shows as ${sig(e[0]!)}`);
      } else if (put !== undefined && (e.length !== 1 || e[0]!.type !== 'put' || e[0]!.value !== put)) {
        v.push(`watcher ${s.name} (span ${s.from}-${s.to}): acknowledged ${o.key}=${put} at revision ${o.revision} seen ${e.length} times${e[0] ? ` as ${sig(e[0])}` : ''}`);
      }
    }
  }
  v.push(...checkRevisionOrder(ops));
  return v;
}

/** Revisions against real time: per key, writes acknowledged before another began are older; reads never go behind one. */
export function checkRevisionOrder(ops: readonly HistoryOp[]): string[] {
  const v: string[] = [];
  const byKey = new Map<string, HistoryOp[]>();
  for (const o of ops) {
    if (o.outcome !== 'ok') continue;
    let l = byKey.get(o.key);
    if (!l) byKey.set(o.key, (l = []));
    l.push(o);
  }
  for (const [key, l] of byKey) {
    const writes = l.filter((o) => o.revision !== undefined && (o.op.f === 'write' || (o.op.f === 'cas' && o.op.succeeded === true)));
    const revOfValue = new Map<string, number>();
    for (const w of writes) {
      const val = w.op.f === 'write' ? w.op.value : w.op.f === 'cas' ? w.op.next : null;
      if (val !== null) revOfValue.set(val, w.revision!);
    }
    const byDone = [...writes].sort((a, b) => a.completeMs - b.completeMs);
    for (const w of writes) {
      // Every write done before w began must be older; the latest such is enough to check.
      let lo = -1;
      for (const x of byDone) {
        if (x.completeMs >= w.invokeMs) break;
        lo = Math.max(lo, x.revision!);
      }
      if (lo >= w.revision!) v.push(`${key}: a write at revision ${w.revision} began after one at revision ${lo} was acknowledged`);
    }
    for (const r of l) {
      if (r.op.f !== 'read' || r.op.value === null) continue;
      const rv = revOfValue.get(r.op.value);
      if (rv === undefined) continue;
      let lo = -1;
      for (const x of byDone) {
        if (x.completeMs >= r.invokeMs) break;
        lo = Math.max(lo, x.revision!);
      }
      if (lo > rv) v.push(`${key}: a read returned the value of revision ${rv} after a write at revision ${lo} was acknowledged`);
    }
  }
  return v;
}

/**
 * Each scan must show one state: the state after some revision R, as the watchers saw the
 * changes (R: the newest revision among the values it returned). A scan that shows one key of
 * a transaction and not another (half of it) fails this. Only revisions every stream covered
 * from revision 1 are judged; a value the watchers never saw is skipped (written outside the
 * covered span).
 */
export function checkScans(scans: readonly ReadonlyMap<string, string | null>[], streams: readonly WatchStream[], keys: readonly string[]): string[] {
  const v: string[] = [];
  const full = streams.filter((s) => s.from === 1);
  if (full.length === 0) return v;
  const covered = Math.min(...full.map((s) => s.to));
  const byKey = new Map<string, { revision: number; value: string | null }[]>();
  const seenRev = new Set<string>();
  for (const s of full) {
    for (const e of s.events) {
      const id = `${e.revision}\u0000${e.key}`;
      if (seenRev.has(id)) continue;
      seenRev.add(id);
      let l = byKey.get(e.key);
      if (!l) byKey.set(e.key, (l = []));
      l.push({ revision: e.revision, value: e.type === 'put' ? e.value : null });
    }
  }
  for (const l of byKey.values()) l.sort((a, b) => a.revision - b.revision);
  const at = (key: string, r: number): string | null => {
    let val: string | null = null;
    for (const e of byKey.get(key) ?? []) {
      if (e.revision > r) break;
      val = e.value;
    }
    return val;
  };
  const revisions = [...new Set([...byKey.values()].flatMap((l) => l.map((e) => e.revision)))].sort((a, b) => a - b);
  scans.forEach((scan, i) => {
    let r = 0;
    for (const [key, val] of scan) {
      if (val === null) continue;
      const rev = (byKey.get(key) ?? []).find((e) => e.value === val)?.revision;
      if (rev === undefined) return; // not seen by the watchers: cannot place this scan
      r = Math.max(r, rev);
    }
    if (r > covered) return;
    // The scan is one state if it is the state after r or after some later revision (up to
    // the first change of a key it showed a value of): try each revision where one changed.
    const matches = (at_: number): boolean => keys.every((k) => (scan.get(k) ?? null) === at(k, at_));
    for (const cand of [r, ...revisions.filter((x) => x > r && x <= covered)]) {
      if (matches(cand)) return;
      if (keys.some((k) => scan.get(k) != null && at(k, cand) !== scan.get(k))) break;
    }
    v.push(`scan #${i} is not one state: no revision from ${r} on shows ${JSON.stringify([...scan])}`);
  });
  return v;
}
