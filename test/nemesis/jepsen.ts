// Jepsen's log of a compare-and-set register (as in its etcd analysis) read into our history
// events, so that the checker can be run on histories recorded against other systems.
//
//   INFO  jepsen.util - 3	:invoke	:cas	[1 4]
//   INFO  jepsen.util - 3	:fail	:cas	[1 4]
//
// How the completions map (Jepsen's semantics): `:ok` happened with that result; `:fail` of a
// `:cas` ran and did not match (ok, not succeeded, the value found unknown); `:fail` of a read
// or write did not happen; `:info` is unknown. Line numbers serve as times: only their order
// matters to the checker.
import type { HistoryEvent } from './history.js';
import type { RegisterOp, Value } from './register.js';

/** The key Jepsen's single register is checked under. */
export const JEPSEN_KEY = 'jepsen';
/** Bound on the lines read, so that a wrong file fails instead of filling memory. */
const MAX_LINES = 5_000_000;

const LINE = /^\s*INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s*(.*?)\s*$/;

export class JepsenParseError extends Error {
  readonly code = 'JEPSEN_PARSE';
  constructor(
    readonly lineNumber: number,
    message: string,
  ) {
    super(`line ${lineNumber}: ${message}`);
    this.name = 'JepsenParseError';
  }
}

/** True when the text looks like a Jepsen log rather than our JSON. */
export function looksLikeJepsenLog(text: string): boolean {
  return /^\s*INFO\s+jepsen\.util\b/.test(text);
}

function parseValue(raw: string, lineNumber: number): Value {
  if (raw === 'nil') return null;
  if (/^-?\d+$/.test(raw)) return String(Number(raw));
  throw new JepsenParseError(lineNumber, `expected nil or an integer, got '${raw}'`);
}

function parseInvocation(f: string, raw: string, lineNumber: number): RegisterOp {
  if (f === 'read') return { f: 'read', value: null };
  if (f === 'write') {
    const v = parseValue(raw, lineNumber);
    if (v === null) throw new JepsenParseError(lineNumber, 'a write of nil');
    return { f: 'write', value: v };
  }
  const m = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(raw);
  if (!m) throw new JepsenParseError(lineNumber, `expected a cas argument [old new], got '${raw}'`);
  const next = parseValue(m[2]!, lineNumber);
  if (next === null) throw new JepsenParseError(lineNumber, 'a cas to nil');
  return { f: 'cas', expected: parseValue(m[1]!, lineNumber), next };
}

/**
 * Parses a Jepsen register log. Lines that are not `jepsen.util` events (other loggers,
 * blank lines) are skipped; a `jepsen.util` event that does not parse is an error naming
 * its line, as is a completion without an invocation or of another function.
 */
export function parseJepsenLog(text: string): HistoryEvent[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > MAX_LINES) throw new JepsenParseError(MAX_LINES, `more than ${MAX_LINES} lines`);
  const events: HistoryEvent[] = [];
  const open = new Map<number, { op: RegisterOp; line: number }>();
  lines.forEach((line, i) => {
    const lineNumber = i + 1;
    if (!/jepsen\.util/.test(line)) return;
    const m = LINE.exec(line);
    if (!m) throw new JepsenParseError(lineNumber, `not a register event: '${line.trim()}'`);
    const process = Number(m[1]);
    const type = m[2] as HistoryEvent['type'];
    const f = m[3]!;
    const raw = m[4]!;
    const base = { process, key: JEPSEN_KEY, atMs: lineNumber };
    if (type === 'invoke') {
      const prior = open.get(process);
      if (prior) throw new JepsenParseError(lineNumber, `process ${process} invoked while its operation of line ${prior.line} is open`);
      const op = parseInvocation(f, raw, lineNumber);
      open.set(process, { op, line: lineNumber });
      events.push({ type, ...base, op });
      return;
    }
    const inv = open.get(process);
    if (!inv) throw new JepsenParseError(lineNumber, `a completion of process ${process}, which has no open operation`);
    if (inv.op.f !== f) throw new JepsenParseError(lineNumber, `a :${f} completes the :${inv.op.f} of line ${inv.line}`);
    open.delete(process);
    const op = inv.op;
    if (type === 'ok' && op.f === 'read') {
      events.push({ type, ...base, op: { f: 'read', value: parseValue(raw, lineNumber) } });
    } else if (op.f === 'cas' && (type === 'ok' || type === 'fail')) {
      // A failed CAS ran and did not match: it happened, with result false.
      events.push({ type: 'ok', ...base, op: { ...op, succeeded: type === 'ok' } });
    } else {
      events.push({ type, ...base, op, ...(type === 'ok' ? {} : { error: raw.replace(/^:/, '') || type }) });
    }
  });
  return events;
}
