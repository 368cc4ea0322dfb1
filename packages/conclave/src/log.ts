// Structured logs: every line a node writes carries nodeId, term, role and a stable `event`
// name, through any pino-compatible logger (pino itself by default: JSON lines on stderr).
import { pino } from 'pino';
import type { NodeId } from '@conclave/core';

/**
 * The logger openNode takes: pino's calling convention, `(fields, message)`. A pino logger
 * (or a child of one) fits as it is; so does any object with these three methods.
 */
export interface Logger {
  info(fields: Record<string, unknown>, msg?: string): void;
  warn(fields: Record<string, unknown>, msg?: string): void;
  error(fields: Record<string, unknown>, msg?: string): void;
}

/** The event names a node logs: stable, for alerting and log queries (README, "Logs"). */
export type LogEvent =
  | 'node_started'
  | 'node_stopped'
  | 'node_failed'
  | 'join_ignored'
  | 'joined'
  | 'role_changed'
  | 'leader_elected'
  | 'leader_lost'
  | 'member_added'
  | 'member_removed'
  | 'override_set'
  | 'override_cleared'
  | 'override_active'
  | 'override_until_majority'
  | 'override_check_failed'
  | 'rollback'
  | 'rollback_started'
  | 'rollback_prohibited'
  | 'diverged_without_override'
  | 'snapshot_staged'
  | 'lease_expired'
  | 'snapshot_send_failed'
  | 'transport_message_too_large'
  | 'transport_handler_failed';

export interface LogContext {
  readonly term: number;
  readonly role: string;
}

/** The default logger: pino, JSON lines on stderr (the embedding application's stdout stays its own), level info. */
export function defaultLogger(): Logger {
  return pino({ base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

export function isLogger(v: unknown): v is Logger {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as Record<string, unknown>;
  return typeof l.info === 'function' && typeof l.warn === 'function' && typeof l.error === 'function';
}

/** A node's log: adds nodeId, term and role to every line. */
export class NodeLog {
  private context: () => LogContext = () => ({ term: 0, role: 'starting' });

  constructor(
    readonly target: Logger,
    private readonly nodeId: NodeId,
  ) {}

  /** Where term and role come from once the node has its core (cheap getters, read per line). */
  bind(context: () => LogContext): void {
    this.context = context;
  }

  info(event: LogEvent, msg: string, fields: Record<string, unknown> = {}): void {
    this.target.info(this.fields(event, fields), msg);
  }

  warn(event: LogEvent, msg: string, fields: Record<string, unknown> = {}): void {
    this.target.warn(this.fields(event, fields), msg);
  }

  error(event: LogEvent, msg: string, fields: Record<string, unknown> = {}): void {
    this.target.error(this.fields(event, fields), msg);
  }

  private fields(event: LogEvent, extra: Record<string, unknown>): Record<string, unknown> {
    let ctx: LogContext;
    try {
      ctx = this.context();
    } catch {
      ctx = { term: 0, role: 'starting' }; // the core is not there yet (or any more)
    }
    return { nodeId: this.nodeId, term: ctx.term, role: ctx.role, event, ...extra };
  }
}

/** What node-events logging reads of a node. */
interface EventSource {
  on(event: 'stateChange', l: (state: string, previous: string) => void): unknown;
  on(event: 'leaderChange', l: (leader: NodeId | null, address: string | null) => void): unknown;
  on(event: 'memberAdded' | 'memberRemoved', l: (m: { id: NodeId; type: string; address: string }) => void): unknown;
}

/**
 * Logs the node's role, leader and membership changes (its EventEmitter's events) with their
 * event names; every line of `log` carries the term and role `context` reads.
 */
export function logNodeEvents(node: EventSource, log: NodeLog, context: () => LogContext): void {
  log.bind(context);
  node.on('stateChange', (state, previous) => log.info('role_changed', `state ${previous} -> ${state}`, { state, previous }));
  node.on('leaderChange', (leader, address) => {
    if (leader) log.info('leader_elected', `leader is ${leader}${address ? ` (${address})` : ''}`, { leader, leaderAddress: address });
    else log.warn('leader_lost', 'no leader known', { leader: null });
  });
  node.on('memberAdded', (m) => log.info('member_added', `member added: ${m.id} ${m.type} ${m.address}`, { member: m.id, memberType: m.type, address: m.address }));
  node.on('memberRemoved', (m) => log.info('member_removed', `member removed: ${m.id}`, { member: m.id }));
}
