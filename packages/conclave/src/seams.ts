// The driver's seams: everything a ConclaveNode takes from the world (time, timers,
// randomness, its disk, its network) comes through one of these interfaces. Production
// wires the real ones (systemClock, openLevelStorage, socketNetwork, systemRandom,
// fileReports); the deterministic simulation (test/sim-node) wires simulated ones, so that
// the very code that runs in production runs under a seeded schedule.
//
// @internal Not part of the documented API (the README does not advertise it). After the
// first commit, these interfaces only grow: fields are added, never changed or removed.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Message, NodeId, SnapshotMeta } from '@conclave/core';
import { NodeStorage, type NodeStorageOptions } from '@conclave/storage';
import {
  AdminRpcClient,
  Transport,
  type AdminConnectOptions,
  type AdminHandler,
  type AdminRequestOptions,
  type FaultInjector,
  type SnapshotHandler,
  type TransportOptions,
  type UnreachableReason,
} from '@conclave/transport';
import { saveRollbackReport, type RollbackReport } from './rollback.js';
import type { WriteTracer } from './write-trace.js';

// ------------------------------------------------------------------ time

/** A timer handle. unref() lets the process exit while the timer waits; a simulated timer's may do nothing. */
export interface Timer {
  unref(): unknown;
}

/**
 * The driver's clock and timers. Contract for a simulated clock:
 * - nowMs() is monotonic: it never decreases, whatever happens to wall time. The read lease,
 *   maxLagMs, deadlines and the core's history stamps all use it. It may drift from other
 *   nodes' clocks (bounded), and may jump forward (a paused process), never back.
 * - wallNowMs() is the wall clock (ms since the epoch), used only where a wall time is
 *   stored or shown (status.nowMs, rollback reports) or arrives over the wire (an admin
 *   request's deadline). It may step back.
 * - A callback never runs synchronously inside the call that schedules it, never after the
 *   clear call for its timer returned, and never before its delay has passed on nowMs().
 *   Callbacks due at the same time run in the order they were scheduled.
 * - setImmediate runs its callback after the current turn: after the promise jobs already
 *   queued, before any timer due later. The Ready loop batches one turn's proposals with it.
 * - Clearing a timer that already ran, or clearing twice, does nothing.
 */
export interface Clock {
  nowMs(): number;
  wallNowMs(): number;
  setTimeout(fn: () => void, delayMs: number): Timer;
  clearTimeout(timer: Timer): void;
  setInterval(fn: () => void, intervalMs: number): Timer;
  clearInterval(timer: Timer): void;
  setImmediate(fn: () => void): void;
  /**
   * Optional: monotonic microseconds on a clock every process of the machine shares
   * (CLOCK_MONOTONIC), for write tracing across processes (write-trace.ts). Never used for
   * decisions.
   */
  nowUs?(): number;
}

/**
 * Production time. Monotonic time is performance.now() offset by the process's start time,
 * so that its values still read as epoch milliseconds in the history (they drift from the
 * wall clock by whatever steps it took since the process started): a wall clock stepped
 * back would freeze the core's time and keep a lease alive while the others elect (issue 11).
 */
export const systemClock: Clock = {
  // Whole milliseconds (history stamps print as integers).
  nowMs: () => Math.floor(performance.timeOrigin + performance.now()),
  wallNowMs: () => Date.now(),
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setInterval: (fn, intervalMs) => setInterval(fn, intervalMs),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
  nowUs: () => Number(process.hrtime.bigint() / 1000n),
};

/** A promise resolved after `ms` on `clock`. */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });
}

// ------------------------------------------------------------------ randomness

/**
 * The driver's randomness: the core's election jitter seed, read-context prefixes, report
 * file names. A simulation passes a seeded one so that a seed replays bit for bit.
 */
export interface Random {
  /** `n` random bytes. */
  bytes(n: number): Buffer;
}

export const systemRandom: Random = { bytes: (n) => randomBytes(n) };

// ------------------------------------------------------------------ storage

/**
 * How the driver gets its storage: a NodeStorage, opened with these options. Production
 * opens LevelDB in options.path. A simulation calls NodeStorage.open itself with
 * `disk` (a StorageDisk from @conclave/storage: a database with crash semantics and the
 * side files) and `timers` added, so that the production storage code runs over a
 * simulated disk. It may also fail the open as a real disk would (StorageIoError, ...).
 */
export type OpenStorage = (options: NodeStorageOptions) => Promise<NodeStorage>;

export const openLevelStorage: OpenStorage = (options) => NodeStorage.open(options);

// ------------------------------------------------------------------ network

/**
 * What the driver uses of its peer transport (the Transport of @conclave/transport, which
 * satisfies it as it is). Contract for a simulated one:
 * - send() queues and returns at once (true when queued, false when dropped because the
 *   peer is unknown, down or its queue is full); it throws only for a malformed message (a
 *   driver bug). Delivery is not guaranteed, and neither is order: messages may be
 *   dropped, delayed, duplicated and reordered. A message larger than the real transport's
 *   frame limit (TransportOptions.maxPayloadBytes) is dropped with 'unreachable' 'tooLarge'.
 * - The onMessage handler runs outside any send() call (never synchronously inside it).
 * - sendSnapshot streams `chunks` to the peer's onSnapshot handler and resolves once that
 *   handler resolved; it rejects if the handler throws or the peer cannot be reached.
 * - 'unreachable' is emitted at most once per episode, never synchronously inside send().
 * - Admin handlers registered here answer the LeaderRpcClients of other nodes dialling
 *   `listenAddress`. A handler's context deadline is on the wall clock (Clock.wallNowMs).
 * - close() stops all delivery to and from this node; later sends return false.
 */
export interface PeerTransport {
  readonly listenAddress: string;
  /** The fault hook of tests and the nemesis (ConclaveNode.faults). */
  readonly faults: FaultInjector;
  start(): Promise<void>;
  close(): Promise<void>;
  onMessage(handler: (msg: Message) => void): void;
  onSnapshot(handler: SnapshotHandler): void;
  on(event: 'unreachable', listener: (peer: NodeId, reason: UnreachableReason) => void): unknown;
  on(event: 'handlerError', listener: (error: unknown) => void): unknown;
  send(msg: Message): boolean;
  sendSnapshot(to: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  setPeers(peers: Readonly<Record<NodeId, string>>): void;
  registerAdminHandler(method: string, handler: AdminHandler): void;
  /** Which peers are connected, each way (for the "no leader" diagnosis). */
  stats(): { readonly peers: Readonly<Record<NodeId, { readonly connected: boolean; readonly inboundConnected: boolean }>> };
}

/**
 * A connection to another node's admin endpoint: write forwarding to the leader, joining,
 * asking the leader's status. Contract for a simulated one: request() rejects with
 * AdminRemoteError (from @conclave/transport, with the remote error's code and data) when
 * the remote handler threw, AdminTimeoutError after options.timeoutMs, and
 * AdminConnectionError when the connection is or goes down; after an AdminTimeoutError or
 * AdminConnectionError the remote may or may not have run the request.
 */
export interface LeaderRpcClient {
  readonly closed: boolean;
  request(method: string, params: unknown, options: AdminRequestOptions): Promise<unknown>;
  close(): Promise<void>;
}

/** The driver's network: its own peer transport, and admin connections to other nodes. */
export interface Network {
  createTransport(options: TransportOptions): PeerTransport;
  /** Rejects (AdminConnectionError, AdminTimeoutError) when nothing answers at `address` within options.connectTimeoutMs. */
  connectAdmin(address: string, options: AdminConnectOptions): Promise<LeaderRpcClient>;
}

/** Production: WebSocket transport and admin client. */
export const socketNetwork: Network = {
  createTransport: (options) => new Transport(options),
  connectAdmin: (address, options) => AdminRpcClient.connect(address, options),
};

// ------------------------------------------------------------------ files beside the store

/**
 * Where a rollback's report goes before anything is rolled back. Resolves with where it is
 * (a path, or any name a simulation gives it) once it is durable.
 */
export interface ReportFiles {
  saveRollbackReport(dataDir: string, report: RollbackReport): Promise<string>;
}

export const fileReports: ReportFiles = { saveRollbackReport };

// ------------------------------------------------------------------ all of them

/** Everything a ConclaveNode takes from the world. */
export interface NodeSeams {
  readonly clock: Clock;
  readonly random: Random;
  readonly openStorage: OpenStorage;
  readonly network: Network;
  readonly reports: ReportFiles;
  /** Optional: receives hrtime stamps of each write's steps (write-trace.ts); absent in production. */
  readonly tracer?: WriteTracer;
}

export const PRODUCTION_SEAMS: NodeSeams = { clock: systemClock, random: systemRandom, openStorage: openLevelStorage, network: socketNetwork, reports: fileReports };
