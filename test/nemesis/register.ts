// The register the checker models: its operations as the clients record them, and its
// sequential behaviour. Shared by the history preparation and the search.

/** A register's value: a string, or null when the key is absent. */
export type Value = string | null;

export type RegisterOp =
  /** `value`: what the read returned (only meaningful when ok). */
  | { readonly f: 'read'; readonly value: Value }
  /** A null value is a delete. */
  | { readonly f: 'write'; readonly value: Value }
  /**
   * When ok: `succeeded`, and `current` = the value the CAS found. A failed CAS without
   * `current` (Jepsen's `:fail :cas`) only says the register did not hold `expected`.
   */
  | { readonly f: 'cas'; readonly expected: Value; readonly next: string; readonly succeeded?: boolean; readonly current?: Value };

export type Outcome = 'ok' | 'fail' | 'info';

export interface HistoryOp {
  readonly process: number;
  readonly key: string;
  readonly op: RegisterOp;
  readonly outcome: Outcome;
  readonly invokeMs: number;
  /** When the client got its answer (or gave up, for info). */
  readonly completeMs: number;
  /** Why the operation failed or is indeterminate (an error code), for the report. */
  readonly error?: string;
  /** An acknowledged write's revision (its log index), for the watch checker. */
  readonly revision?: number;
}

/**
 * What the search steps: a register operation, or an indeterminate CAS of a history with
 * repeated values, which sets `next` when the register holds `expected` and otherwise has
 * no effect (it ran and did not match, or never ran).
 */
export type ModelOp = RegisterOp | { readonly f: 'cas-maybe'; readonly expected: Value; readonly next: string };

export const ILLEGAL = Symbol('illegal');

/** The sequential register: the value after `op` from `state`, or ILLEGAL. */
export function stepRegister(state: Value, op: ModelOp): Value | typeof ILLEGAL {
  switch (op.f) {
    case 'read':
      return state === op.value ? state : ILLEGAL;
    case 'write':
      return op.value;
    case 'cas':
      if (op.succeeded === false) {
        if (op.current === undefined) return state !== op.expected ? state : ILLEGAL;
        // The CAS found `current`, which differs from what it expected.
        return state === op.current && op.current !== op.expected ? state : ILLEGAL;
      }
      return state === op.expected ? op.next : ILLEGAL;
    case 'cas-maybe':
      return state === op.expected ? op.next : state;
  }
}

/** The value an operation writes, if it writes. */
export function produced(op: RegisterOp): string | null {
  if (op.f === 'write') return op.value;
  if (op.f === 'cas' && op.succeeded !== false) return op.next;
  return null;
}

/** A failed CAS that does not say what it found (Jepsen's `:fail :cas`). */
export function isBlindCasFailure(h: HistoryOp): boolean {
  return h.outcome === 'ok' && h.op.f === 'cas' && h.op.succeeded === false && h.op.current === undefined;
}

/**
 * Values a (taking-effect) operation compares the register with: the values it requires,
 * and for a failed CAS without `current`, the one it requires the register not to hold.
 */
export function observed(h: HistoryOp): Value[] {
  const op = h.op;
  if (op.f === 'read') return h.outcome === 'ok' ? [op.value] : [];
  if (op.f === 'cas') {
    if (h.outcome === 'ok' && op.succeeded === false && op.current !== undefined) return [op.current];
    return [op.expected];
  }
  return [];
}
