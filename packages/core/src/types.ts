// The data the consensus core consumes and produces. Everything here is plain data so
// that storage and transport can encode it with msgpackr without adapters.

export type NodeId = string;

/** `normal` carries application data, `noop` is the new leader's first entry, `conf` a membership change. */
export type EntryType = 'normal' | 'noop' | 'conf';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Application payload; empty for `noop` and `conf`. Never re-encoded by the core. */
  readonly data: Uint8Array;
  /** Present exactly when `type === 'conf'`. */
  readonly change?: ConfChange;
}

export type MemberType = 'electable' | 'secondary';

export interface Member {
  readonly id: NodeId;
  /** host:port of the member's peer listener. */
  readonly address: string;
  readonly type: MemberType;
  /** A removed member stays in the metadata so that its id can never come back. */
  readonly removed: boolean;
  /** 0 = never campaigns (still votes if electable). Higher wins ties in leader transfer. */
  readonly priority: number;
}

/** The replicated group metadata. The electable group size is always derived from it. */
export interface GroupMetadata {
  readonly groupId: string;
  readonly members: readonly Member[];
}

/** Single-server membership changes, applied one at a time. */
export type ConfChange =
  | { readonly op: 'addElectable'; readonly id: NodeId; readonly address: string; readonly priority?: number }
  | { readonly op: 'addSecondary'; readonly id: NodeId; readonly address: string; readonly priority?: number }
  | { readonly op: 'promote'; readonly id: NodeId }
  | { readonly op: 'remove'; readonly id: NodeId };

/** What must be durable before a node answers votes or acknowledges appends. */
export interface HardState {
  readonly term: number;
  /** '' when this node has not voted in `term`. */
  readonly vote: NodeId;
  readonly commit: number;
}

/** Describes a snapshot of the state machine; the data itself moves outside the core. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The group metadata as of `index`. */
  readonly group: GroupMetadata;
}

export type MessageType =
  | 'app' // leader -> follower: entries after (index, logTerm), plus commit
  | 'appResp' // follower -> leader: index = last matching index, or reject with a hint
  | 'heartbeat' // leader -> follower: commit and (optionally) a read context
  | 'heartbeatResp'
  | 'preVote' // would you vote for me in term+1? (term is the proposed term)
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'snap' // leader -> follower: install the snapshot described by `snapshot`
  | 'timeoutNow' // leader -> transfer target: campaign now, skipping pre-vote
  | 'readIndex' // follower -> leader: please confirm a read index for `context`
  | 'readIndexResp'; // leader -> follower: index = read index for `context`

/**
 * One wire message. Flat, with every field present, so that msgpackr records share a
 * single structure. Field meanings depend on `type` (see MessageType).
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** app: term of `index`; vote/preVote: candidate's last log term; appResp reject: follower's term at rejectHint. */
  logTerm: number;
  /** app: previous log index; vote: candidate's last index; appResp: match index or rejected index; readIndexResp: the read index; heartbeat: the leader's round number, echoed by heartbeatResp (the lease counts from its send time). */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** appResp with reject: the follower's best guess for where logs may match. */
  rejectHint: number;
  /** heartbeat/readIndex context; vote: 'transfer' when campaigning on timeoutNow. */
  context: string;
  /** Only for `snap`. */
  snapshot: SnapshotMeta | null;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A confirmed linearizable read point: reads at or after `index` applied are linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/** Per-write acknowledgement policy (JE's ReplicaAckPolicy). */
export type AckPolicy = 'simpleMajority' | 'all' | 'none';

/**
 * The output of the core: what the driver must persist, send and apply.
 * Contract: call `ready()`, then
 *   1. send `messages` (the leader's appends may go out before its own write: thesis 10.2.1);
 *   2. persist `snapshot` (install), then `entries` (truncating any conflicting suffix from
 *      entries[0].index) and `hardState`, in one batch, synced when `mustSync`;
 *   3. send `messagesAfterPersist`;
 *   4. apply `committedEntries` in order;
 *   5. call `advance(ready)`.
 * Only one Ready may be outstanding at a time.
 * With `asyncStorageWrites` (config.ts), step 2 only hands the write to storage, step 3 waits
 * for it to be durable, and `persisted(ready)` reports it, Ready by Ready in order, while
 * later Readies are taken: etcd raft's AsyncStorageWrites.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: SnapshotMeta | null;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

/** Volatile state worth telling the driver about when it changes. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: number;
}

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return { type, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: '', snapshot: null };
}
