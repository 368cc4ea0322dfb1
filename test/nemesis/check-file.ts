// `npm run nemesis -- --check FILE`: re-checks a saved history, either our own JSON (what a
// failed run writes, or --keep-history) or a Jepsen register log.
import { readFileSync } from 'node:fs';
import { operationsOf, type HistoryEvent } from './history.js';
import { looksLikeJepsenLog, parseJepsenLog } from './jepsen.js';
import { checkHistory, formatFailure, type CheckResult } from './linearizability.js';
import type { HistoryOp } from './register.js';

export interface FileCheck {
  readonly format: 'conclave-json' | 'jepsen-log';
  readonly ops: readonly HistoryOp[];
  readonly result: CheckResult;
  readonly checkerMs: number;
}

export class HistoryFileError extends Error {
  readonly code = 'HISTORY_FILE';
  constructor(file: string, why: string) {
    super(`${file}: ${why}`);
    this.name = 'HistoryFileError';
  }
}

export function readHistoryFile(file: string): { format: FileCheck['format']; ops: HistoryOp[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new HistoryFileError(file, (err as Error).message);
  }
  if (looksLikeJepsenLog(text)) return { format: 'jepsen-log', ops: operationsOf(parseJepsenLog(text)) };
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    throw new HistoryFileError(file, `neither a Jepsen log (no 'INFO jepsen.util' line first) nor JSON: ${(err as Error).message}`);
  }
  const events = (saved as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) throw new HistoryFileError(file, 'JSON without an "events" array (not a history the nemesis wrote)');
  return { format: 'conclave-json', ops: operationsOf(events as HistoryEvent[]) };
}

export function checkHistoryFile(file: string): FileCheck {
  const { format, ops } = readHistoryFile(file);
  const started = Date.now();
  const result = checkHistory(ops);
  return { format, ops, result, checkerMs: Date.now() - started };
}

/** Lines for people: each key's verdict, and the minimal failing history of each violation. */
export function formatFileCheck(c: FileCheck): string {
  const lines: string[] = [];
  for (const k of c.result.keys) {
    lines.push(`${k.key}: ${k.linearizable === true ? 'linearizable' : k.linearizable === false ? 'NOT linearizable' : 'unknown (search budget exceeded)'} (${k.searched} ops searched, ${k.segments} segments, ${k.configurations} configurations)`);
    if (k.failure) lines.push(formatFailure(k.failure, { timesAreLineNumbers: c.format === 'jepsen-log' }));
  }
  lines.push(`${c.ops.length} operations in ${c.result.keys.length} keys, checked in ${c.checkerMs} ms`);
  return lines.join('\n');
}
