// Shape checks for everything that arrives from the network. A peer that passed the
// handshake is trusted to be a member, not to be bug-free: every field of every Message
// and Entry is checked before the driver sees it.
import { confChangeProblem, validateGroup } from '@conclave/core';
import type { Message, SnapshotMeta } from '@conclave/core';

const MESSAGE_TYPES: ReadonlySet<unknown> = new Set([
  'app', 'appResp', 'heartbeat', 'heartbeatResp', 'preVote', 'preVoteResp', 'vote', 'voteResp', 'snap', 'timeoutNow', 'readIndex', 'readIndexResp',
]);
const ENTRY_TYPES: ReadonlySet<unknown> = new Set(['normal', 'noop', 'conf']);
const MESSAGE_FIELD_COUNT = 12;

type Obj = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A Raft index, term or counter: a non-negative safe integer. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function entryProblem(e: unknown, strict: boolean): string | null {
  if (!isPlainObject(e)) return 'entry is not an object';
  if (!isCount(e.index) || !isCount(e.term)) return 'entry index or term is not a count';
  if (!ENTRY_TYPES.has(e.type)) return 'unknown entry type';
  if (!(e.data instanceof Uint8Array)) return 'entry data is not bytes';
  if (e.type === 'conf') {
    const p = confChangeProblem(e.change);
    if (p) return p;
  } else if (e.change !== undefined) {
    return 'non-conf entry with a change';
  }
  if (strict && Object.keys(e).length !== (e.type === 'conf' ? 5 : 4)) return 'entry has unknown fields';
  return null;
}

export function snapshotMetaProblem(s: unknown): string | null {
  if (!isPlainObject(s)) return 'snapshot meta is not an object';
  if (!isCount(s.index) || !isCount(s.term)) return 'snapshot index or term is not a count';
  try {
    validateGroup(s.group as SnapshotMeta['group']);
  } catch {
    return 'snapshot group metadata is malformed';
  }
  return null;
}

/**
 * Returns why `v` is not a valid Message (a short reason fit for a close frame), or null.
 * `from`/`to`, when given, must match exactly. `strict` also refuses unknown fields (for
 * what arrives from the network; outgoing messages are re-encoded field by field anyway).
 */
export function messageProblem(v: unknown, from: string | undefined, to: string | undefined, strict: boolean): string | null {
  if (!isPlainObject(v)) return 'message is not an object';
  if (!MESSAGE_TYPES.has(v.type)) return 'unknown message type';
  if (typeof v.from !== 'string' || (from !== undefined && v.from !== from)) return 'message from does not match the authenticated peer';
  if (typeof v.to !== 'string' || (to !== undefined && v.to !== to)) return 'message to is not this node';
  if (!isCount(v.term) || !isCount(v.logTerm) || !isCount(v.index) || !isCount(v.commit) || !isCount(v.rejectHint)) {
    return 'message term, logTerm, index, commit or rejectHint is not a count';
  }
  if (typeof v.reject !== 'boolean') return 'message reject is not a boolean';
  if (typeof v.context !== 'string') return 'message context is not a string';
  if (!Array.isArray(v.entries)) return 'message entries is not an array';
  for (const e of v.entries as unknown[]) {
    const p = entryProblem(e, strict);
    if (p) return p;
  }
  if (v.snapshot !== null) {
    const p = snapshotMetaProblem(v.snapshot);
    if (p) return p;
  }
  if (strict && Object.keys(v).length !== MESSAGE_FIELD_COUNT) return 'message has unknown fields';
  return null;
}

export function isMessage(v: unknown, from: string, to: string): v is Message {
  return messageProblem(v, from, to, true) === null;
}
